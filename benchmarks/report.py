"""Write the README's benchmark tables from benchmarks/results/*.json (not the --quick ones).

    python benchmarks/report.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"


def section(folder: Path | None = None) -> str:
    """Each results file's table under its machine line, then its notes as a list."""
    parts = []
    for path in sorted((folder or ROOT / "benchmarks" / "results").glob("*.json")):
        if path.name.endswith(".quick.json"):
            continue
        data = json.loads(path.read_text())
        m = data.get("machine", {})
        where = (f"{m.get('cpus')} cores, {int(m.get('memory_bytes', 0)) / 2**30:.0f} GiB, "
                 f"Docker {m.get('docker')}, commit {str(m.get('commit', ''))[:10]}, "
                 f"{data.get('when', '')}")
        text = f"**{data['benchmark']}** ({where})\n\n" + "\n".join(data["table"])
        notes = [str(n) for n in data.get("notes") or []]
        if notes:
            text += "\n\n" + "\n".join(f"- {n}" for n in notes)
        parts.append(text)
    return "\n\n".join(parts)


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    block = f"{START}\n{section()}\n{END}"
    if START in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text,
                      flags=re.S)
    else:
        text = text.replace("BENCHMARK-TABLES", block)
    readme.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
