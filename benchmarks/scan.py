"""Secret scan benchmark: choosing and scanning a big notebook folder's project files.

A synthetic project is written to a temporary folder: 10,000 files, about 200 MB, shaped
like a notebook folder that grew (Python modules, JSON configs, CSV data, binary arrays, a
tokenizer with its vocabulary, base64 weights in JSON, one big CSV) with one planted key in a
config that an allow marker covers. Measured in the same run:

- baseline: reading every byte of the files once (open, read, close), what any scan costs
  at least;
- cold scan: `project.collect` with an empty scan cache (walk, .dockerignore, names, content);
- rescan: the same again (results come from the cache by content hash);
- rescan after one file changed;
- walk only: `collect` without the content scan (what choosing the files costs).

    python benchmarks/scan.py [--quick]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import string
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from common import Table, machine_facts, write_results  # noqa: E402

MB = 1e6
PY = '''"""Helpers for step {i}."""
import os

TOKEN_LIMIT = {i}
key_columns = ["id", "label", "score"]


def load_{i}(path, token=None):
    token = token or os.environ.get("HF_TOKEN")
    with open(path) as fh:
        return [line.split(",") for line in fh]
'''


def make_project(root: Path, files: int, scale: float) -> tuple[int, int]:
    """Write the synthetic project; (files, bytes) written."""
    rng = random.Random(11)
    count = total = 0

    def put(rel: str, data: bytes) -> None:
        nonlocal count, total
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        count, total = count + 1, total + len(data)

    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 10)))
             for _ in range(int(30_000 * scale) + 100)]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(["[PAD]", "[UNK]", "token", *words]))}
    put("tokenizer.json", json.dumps({"model": {"type": "WordPiece", "unk_token": "[UNK]",
                                                "vocab": vocab}}, indent=2).encode())
    put("tokenizer_config.json", b'{"tokenizer_class": "BertTokenizer", "pad_token": "[PAD]"}')
    put("weights.json", json.dumps({"key": "dense", "data": base64.b64encode(
        rng.randbytes(int(8_000_000 * scale))).decode()}).encode())
    put("data/big.csv", b"".join(f"{i},{rng.random():.6f},{rng.random():.6f}\n".encode()
                                  for i in range(int(800_000 * scale))))
    put("config/deploy.yaml", ("region: eu-west-1\naws_access_key_id: AKIA" + "Q3ZJ7RLM2XW5KT4P"
                               + "  # containerize: allow-secret\n").encode())
    row = b"".join(f"{i},{rng.random():.5f},label{i % 7}\n".encode() for i in range(1700))
    blob = bytes(1) + rng.randbytes(190_000)
    left = files - count
    for i in range(left):
        kind = i % 20
        if kind < 12:
            put(f"src/pkg{i % 50}/mod{i}.py", PY.format(i=i).encode() * 2)
        elif kind < 16:
            put(f"config/c{i}.json", json.dumps({"name": f"run{i}", "lr": rng.random(),
                                                 "layers": [rng.randint(1, 512)
                                                            for _ in range(300)]}).encode())
        elif kind < 19:
            put(f"data/part{i}.csv", row)
        else:
            put(f"arrays/a{i}.npy", blob)
    return count, total


def read_all(root: Path) -> int:
    n = 0
    for folder, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb") as fh:
                n += len(fh.read())
    return n


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1,000 files, about 20 MB (CI)")
    args = ap.parse_args()
    files, scale = (1_000, 0.1) if args.quick else (10_000, 1.0)
    with tempfile.TemporaryDirectory(prefix="jc-bench-scan-") as tmp:
        os.environ["JUPYTER_CONTAINERIZE_CACHE_DIR"] = str(Path(tmp) / "cache")
        from jupyter_containerize.core.env import project

        root = Path(tmp) / "project"
        count, size = make_project(root, files, scale)
        print(f"[scan] {count} files, {size / MB:.0f} MB in {root}", file=sys.stderr)
        read_all(root)  # the page cache holds the files for every measure alike
        baseline = timed(lambda: read_all(root))
        cold = timed(lambda: project.collect(root, 1 << 40))
        warm = timed(lambda: project.collect(root, 1 << 40))
        with open(root / "src/pkg0/mod0.py", "a") as fh:
            fh.write("# changed\n")
        changed = timed(lambda: project.collect(root, 1 << 40))
        walk = timed(lambda: project.collect(root, 1 << 40, scan=False))
        kept = project.collect(root, 1 << 40)
    assert len(kept.files) == count, "every file of the synthetic project goes into the image"
    table = Table(f"secret scan: {count} files, {size / MB:.0f} MB (lower is better)")
    cold_max, warm_max = (1.0, 0.5) if args.quick else (5.0, 1.0)
    table.add("cold scan (empty cache)", cold, baseline, f"<= {cold_max:.0f} s",
              cold <= cold_max, "s")
    table.add("rescan (cached)", warm, baseline, f"<= {warm_max} s", warm <= warm_max, "s")
    table.add("rescan, one file changed", changed, baseline, f"<= {warm_max} s",
              changed <= warm_max, "s")
    table.add("walk and names only", walk, baseline, "", None, "s")
    table.add("scan throughput (cold)", size / MB / cold, size / MB / baseline, "", None,
              "MB/s")
    table.show()
    print("(baseline: reading every byte of the files once, in the same run)")
    write_results("scan", table, machine_facts(), quick=args.quick,
                  extra={"files": count, "bytes": size})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
