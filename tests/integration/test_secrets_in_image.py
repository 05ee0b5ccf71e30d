"""Project files judged by content in a real build: the tokenizer files a notebook needs reach
the image (and import there), a planted key in an ignored file or a credential file reaches no
layer of the saved image, and a key in a YAML stops the build with one line naming file:line."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from helpers import EXAMPLE_PYTHON, assert_one_line_error, cli, example_project, run_in_image
from jc_support import saved_image

pytestmark = pytest.mark.engine

WORK = "home/jovyan/work/"
# assembled at run time so the repository never holds one
AWS = "AKIA" + "Z7QW3RLM2XK5TV4P"
HF = "hf_" + "PlantedTokenQzLrXkPmWvNtYsBcDfGhJk"
TOKENIZER_PY = '''"""The notebook's own tokenizer."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


class Tokenizer:
    def __init__(self, path=os.path.join(HERE, "tokenizer.json"), token=None):
        self.vocab = json.load(open(path))["model"]["vocab"]
        self.auth_token = token or os.environ.get("HF_TOKEN")

    def encode(self, text):
        return [self.vocab.get(w, self.vocab["[UNK]"]) for w in text.lower().split()]
'''
ML_FILES = {
    "tokenizer.json": json.dumps({
        "version": "1.0",
        "model": {"type": "WordPiece", "unk_token": "[UNK]",
                  "vocab": {"[PAD]": 0, "[UNK]": 1, "token": 2, "password": 3, "secret": 4,
                            "hello": 5, "world": 6, "##ing": 7}}}, indent=2),
    "tokenizer_config.json": json.dumps({"tokenizer_class": "BertTokenizer",
                                         "pad_token": "[PAD]", "unk_token": "[UNK]",
                                         "model_max_length": 512}, indent=2),
    "special_tokens_map.json": json.dumps({"pad_token": "[PAD]", "unk_token": "[UNK]"}),
    "tokenizer.py": TOKENIZER_PY,
}


def _saved_image(client: Any, reference: str, needles: list[bytes]
                 ) -> tuple[dict[str, bytes], list[tuple[str, bytes]]]:
    """`docker save` the image and go through it layer by layer: the project files found
    (path -> bytes) and every (member, needle) where a needle occurs in the raw bytes."""
    files: dict[str, bytes] = {}
    hits: list[tuple[str, bytes]] = []
    stream = saved_image(client, reference)
    with tarfile.open(fileobj=stream, mode="r|") as saved:
        for member in saved:
            if not member.isfile():
                continue
            handle = saved.extractfile(member)
            assert handle is not None
            tail, kept = b"", bytearray()
            while block := handle.read(1 << 20):
                window = tail + block
                hits += [(member.name, n) for n in needles if n in window]
                tail = window[-256:]
                if member.name.endswith("layer.tar") and len(kept) < (64 << 20):
                    kept += block
            if member.name.endswith("layer.tar") and len(kept) < (64 << 20):
                with tarfile.open(fileobj=io.BytesIO(bytes(kept)), mode="r:") as layer:
                    for entry in layer.getmembers():
                        if entry.name.startswith(WORK) and entry.isfile():
                            data = layer.extractfile(entry)
                            files[entry.name[len(WORK):]] = data.read() if data else b""
    return files, hits


def test_tokenizer_files_go_in_and_ignored_secrets_reach_no_layer(
        docker_client: Any, tmp_path: Path) -> None:
    nb = example_project(tmp_path, "tokenizer files beside the notebook")
    project = nb.parent
    for rel, text in ML_FILES.items():
        (project / rel).write_text(text)
    doc = json.loads(nb.read_text())
    doc["cells"].append({"cell_type": "code", "execution_count": None, "metadata": {},
                         "outputs": [], "source": ["from tokenizer import Tokenizer\n",
                                                   "Tokenizer().encode('hello world')"]})
    nb.write_text(json.dumps(doc))
    (project / ".dockerignore").write_text("*.json\n!tokenizer*.json\n"
                                           "!special_tokens_map.json\nprivate/\n")
    (project / "private").mkdir()
    (project / "private" / "deploy.yaml").write_text(f"aws_access_key_id: {AWS}\n")
    (project / "notes.json").write_text(json.dumps({"hf": HF}))  # ignored by *.json
    (project / ".env").write_text(f"HF_TOKEN={HF}\n")  # a credential file by nature

    proc = cli("build", str(nb), "--python", str(EXAMPLE_PYTHON))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert ".env: a credential file by its name, left out" in proc.stderr + proc.stdout
    reference = proc.stdout.strip().splitlines()[-1]

    files, hits = _saved_image(docker_client, reference, [AWS.encode(), HF.encode()])
    assert hits == [], f"a planted secret reached the image: {hits}"
    for rel, text in ML_FILES.items():
        assert files.get(rel) == text.encode(), f"{rel} is missing from the project layer"
    assert "classifier.ipynb" in files
    assert not {"private/deploy.yaml", "notes.json", ".env"} & set(files)
    code = ("import sys; sys.path.insert(0, '/home/jovyan/work'); "
            "from tokenizer import Tokenizer; print(Tokenizer().encode('hello world'))")
    assert run_in_image(reference, code) == "[5, 6]"


@pytest.mark.hostile
def test_a_key_in_a_yaml_stops_the_build_with_file_and_line(
        docker_client: Any, tmp_path: Path) -> None:
    nb = example_project(tmp_path, "a config with a planted key")
    (nb.parent / "config.yaml").write_text(
        f"region: eu-west-1\naws_access_key_id: {AWS}\nbucket: team-models\n")
    proc = cli("build", str(nb), "--python", str(EXAMPLE_PYTHON))
    assert_one_line_error(proc, "config.yaml:2: AWS access key", ".dockerignore",
                          "containerize: allow-secret")
    assert AWS not in proc.stderr + proc.stdout and AWS[:8] not in proc.stderr + proc.stdout
