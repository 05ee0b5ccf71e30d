"""Project files judged by content: planted secrets stop the build with file:line and the
ways out, ML files (tokenizers, vocabularies, weights, hashes) go into the image, credential
files by nature are left out with a reason, `.dockerignore` negations and links behave."""

from __future__ import annotations

import base64
import json
import os
import random
import string
import uuid
from pathlib import Path

import pytest

from jupyter_containerize.core.env import project, secretscan
from jupyter_containerize.core.errors import SecretFoundError

# Secrets are assembled at run time so the repository itself never holds one.
AWS = "AKIA" + "Q3ZJ7RLM2XW5KT4P"
GITHUB = "ghp_" + "Zr8kQ2mV7xN4pL9sT1wB6yC3dF5gH0jK2aE8"
SLACK = "xoxb-" + "2841923671-5523918840123-" + "aZ7QxW3eR9tY2uI8oP4sD1fG"
STRIPE = "sk_live_" + "51HqLyjWDarjtT1zdp7dcXm1"
GITLAB = "glpat-" + "x9Rk2LmQ7vN3pW8sT4yB"
HF = "hf_" + "QzLrXkPmWvNtYsBcDfGhJkLmNpQrStVwXyZa"
JWT = ".".join([
    base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("="),
    base64.urlsafe_b64encode(b'{"sub":"1234567890","name":"team"}').decode().rstrip("="),
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
])
PRIVATE = ("-----BEGIN RSA " + "PRIVATE KEY-----\n" + "MIIEowIBAAKCAQEA7b3Kq9xZ\n"
           + "-----END RSA " + "PRIVATE KEY-----\n")
ENTROPY = "c2VjcmV0LXZhbHVlLXRoYXQtaXMtbG9uZy1hbmQtcmFuZG9tLXc5cTJ6"
HINT_WORDS = (".dockerignore", secretscan.ALLOW_MARKER)


def _write(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_CACHE_DIR", str(tmp_path / "cache"))


def _nb(*cells: dict) -> str:
    return json.dumps({"cells": list(cells), "metadata": {}, "nbformat": 4,
                       "nbformat_minor": 5}, indent=1)


def _code(source: str, outputs: list[dict] | None = None) -> dict:
    return {"cell_type": "code", "execution_count": 1, "metadata": {},
            "source": source.splitlines(keepends=True), "outputs": outputs or []}


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


PLANTED = [
    pytest.param({"config.yaml": f"region: eu-west-1\naws_access_key_id: {AWS}\n"},
                 "config.yaml:2: AWS access key", id="aws-key-in-yaml"),
    pytest.param({"notes.txt": f"deploy notes\n\nkey for the box:\n{PRIVATE}"},
                 "notes.txt:4: private key", id="private-key-block-in-txt"),
    pytest.param({"helpers/gh.py": f'import os\n\nGH = "{GITHUB}"\n'},
                 "helpers/gh.py:3: GitHub token", id="github-token-in-py"),
    pytest.param({"settings.json": json.dumps({"channel": "#ml", "slack": SLACK}, indent=2)},
                 "settings.json:3: Slack token", id="slack-token-in-json"),
    pytest.param({"db.txt": "primary\npostgres://admin:Vq7zR2pLx9@db.internal:5432/prod\n"},
                 "db.txt:2: password in a URL", id="password-in-url"),
    pytest.param({"pay.toml": f'[stripe]\nkey = "{STRIPE}"\n'},
                 "pay.toml:2: Stripe key", id="stripe-key-in-toml"),
    pytest.param({"README.md": f"# api\n\ncurl -H 'x: {JWT}'\n"},
                 "README.md:3: JSON web token", id="jwt-in-markdown"),
    pytest.param({"app/settings.py": 'DEBUG = True\nDB_PASSWORD = "Tr0ub4dor&3xyzQ"\n'},
                 "app/settings.py:2: secret assigned", id="password-assignment-in-py"),
    pytest.param({"service.yaml": f"name: scorer\napi_token: '{ENTROPY}'\n"},
                 "service.yaml:2: ", id="high-entropy-token-in-yaml"),
    pytest.param({"fetch.sh": f"#!/bin/sh\nexport HF_TOKEN={HF}\n"},
                 "fetch.sh:2: Hugging Face token", id="hugging-face-token-in-shell"),
    pytest.param({"ci.cfg": f"[ci]\ntoken = {GITLAB}\n"},
                 "ci.cfg:2: GitLab token", id="gitlab-token-in-cfg"),
    pytest.param({"conf/prod/app.ini": f"[aws]\n\n\nkey={AWS}\n"},
                 "conf/prod/app.ini:4: AWS access key", id="aws-key-deep-in-folders"),
    pytest.param({"min.json": '{"a":[' + "1," * 5000 + f'2],"k":"{AWS}","b":[' + "3," * 5000
                  + "4]}"},
                 "min.json:1: AWS access key", id="aws-key-in-a-huge-minified-line"),
    pytest.param({"other.ipynb": _nb(_code("x = 1\n"), _code(f'token = "{GITHUB}"\n'))},
                 "other.ipynb cell 2 line 1: GitHub token", id="token-in-a-notebook-cell"),
    pytest.param({"old.ipynb": _nb(_code("print(t)\n", [_stream(f"t={SLACK}\n")]))},
                 "old.ipynb cell 1 output: Slack token", id="token-in-another-notebooks-output"),
    pytest.param({"hook.txt": "https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFG/"
                  + "aZ7QxW3eR9tY2uI8oP4sD1fG\n"},
                 "hook.txt:1: Slack token", id="slack-webhook-url"),
    pytest.param({".dockerignore": "*.yaml\n!config.yaml\n",
                  "config.yaml": f"aws_access_key_id: {AWS}\n"},
                 "config.yaml:1: AWS access key", id="secret-brought-back-by-a-negation"),
    pytest.param({".env.example": f"AWS_REGION=eu-west-1\nAWS_ACCESS_KEY_ID={AWS}\n"},
                 ".env.example:2: AWS access key", id="real-key-in-an-env-template"),
]


@pytest.mark.hostile
@pytest.mark.parametrize(("files", "where"), PLANTED)
def test_a_planted_secret_stops_with_file_line_and_kind(
        tmp_path: Path, files: dict[str, str], where: str) -> None:
    root = tmp_path / "proj"
    _write(root, {"nb.ipynb": _nb(_code("import pandas\n")), **files})
    with pytest.raises(SecretFoundError) as err:
        project.collect(root, 50_000_000, notebook="nb.ipynb")
    line = err.value.one_line()
    assert where in line, line
    assert "\n" not in line and all(word in line for word in HINT_WORDS), line
    for secret in (AWS, GITHUB, SLACK, STRIPE, GITLAB, HF, JWT, ENTROPY, "Vq7zR2pLx9",
                   "MIIEowIBAAKCAQEA", "Tr0ub4dor&3xyzQ"):
        assert secret not in line and secret[:8] not in line, "the secret itself is never shown"


def _vocab() -> str:
    rng = random.Random(7)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "token", "tokens", "password",
             "secret", "key", "keys", "auth", "credential", "##ing", "##ed", "Ġthe"]
    words += ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 10)))
              for _ in range(3000)]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    return json.dumps({
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 0, "content": "[PAD]", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": {"type": "BertNormalizer", "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "model": {"type": "WordPiece", "unk_token": "[UNK]",
                  "continuing_subword_prefix": "##", "vocab": vocab},
    }, indent=2, ensure_ascii=False)


TOKENIZER_CONFIG = json.dumps({
    "added_tokens_decoder": {"0": {"content": "[PAD]", "special": True}},
    "clean_up_tokenization_spaces": True, "cls_token": "[CLS]", "do_lower_case": True,
    "mask_token": "[MASK]", "model_max_length": 512, "pad_token": "[PAD]",
    "sep_token": "[SEP]", "strip_accents": None, "tokenize_chinese_chars": True,
    "tokenizer_class": "BertTokenizer", "unk_token": "[UNK]", "auth_token": None,
    "use_auth_token": False, "token": None,
}, indent=2)
SPECIAL_TOKENS = json.dumps({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                             "pad_token": "<pad>", "mask_token": "<mask>",
                             "additional_special_tokens": ["<|endoftext|>", "<|im_start|>"]})
TOKENIZER_PY = '''"""A small tokenizer the notebook imports."""
import json
import os

PAD_TOKEN = "[PAD]"
TOKEN_PATTERN = r"\\w+|[^\\w\\s]"
secret_sauce = "lowercase"


class Tokenizer:
    def __init__(self, path="tokenizer.json", token=None):
        self.vocab = json.load(open(path))["model"]["vocab"]
        self.auth_token = token or os.environ.get("HF_TOKEN")
        self.password_field = None

    def encode(self, text):
        return [self.vocab.get(t, 1) for t in text.lower().split()]
'''
RNG = random.Random(3)
WEIGHTS = json.dumps({"layer": "dense_1", "dtype": "float32", "key": "kernel",
                      "data": base64.b64encode(RNG.randbytes(60_000)).decode()})
IMAGE_NB = _nb(_code("plot()\n", [{
    "output_type": "display_data", "metadata": {},
    "data": {"image/png": base64.b64encode(RNG.randbytes(30_000)).decode(),
             "text/plain": "<Figure size 640x480 with 1 Axes>"}}]))

KEPT = [
    pytest.param({"tokenizer.json": _vocab()}, id="tokenizer-json-with-a-vocab"),
    pytest.param({"tokenizer_config.json": TOKENIZER_CONFIG}, id="tokenizer-config"),
    pytest.param({"special_tokens_map.json": SPECIAL_TOKENS}, id="special-tokens-map"),
    pytest.param({"tokenizer.py": TOKENIZER_PY}, id="tokenizer-py-the-notebook-imports"),
    pytest.param({"weights.json": WEIGHTS}, id="base64-weights-in-json"),
    pytest.param({"ids.txt": "\n".join(str(uuid.UUID(int=RNG.getrandbits(128)))
                                       for _ in range(500))}, id="uuid-list"),
    pytest.param({"SHA256SUMS": "\n".join(f"{RNG.randbytes(32).hex()}  shard-{i}.bin"
                                          for i in range(300))}, id="sha256-list"),
    pytest.param({"hashes.json": json.dumps({f"f{i}": {"sha256": RNG.randbytes(32).hex(),
                                                       "key": f"k{i}"} for i in range(200)},
                                            indent=1)}, id="json-of-hashes"),
    pytest.param({"numbers.json": json.dumps([[RNG.random() for _ in range(20)]
                                              for _ in range(500)])}, id="json-of-numbers"),
    pytest.param({"vocab.txt": "\n".join(["[PAD]", "token", "password", "secret"]
                                         + [f"w{i}" for i in range(5000)])}, id="vocab-txt"),
    pytest.param({"merges.txt": "#version: 0.2\nĠ t\nĠ a\nh e\ni n\nr e\no n\nĠt he\n"},
                 id="bpe-merges"),
    pytest.param({"plots.ipynb": IMAGE_NB}, id="notebook-with-image-outputs"),
    pytest.param({"env.py": 'import os\nDB_PASSWORD = os.environ["DB_PASSWORD"]\n'
                  'api_key = getpass.getpass("API key: ")\n'}, id="secrets-read-at-run-time"),
    pytest.param({"app.yaml": "db:\n  password: ${DB_PASSWORD}\n  secret: <set me>\n"},
                 id="templated-placeholders"),
    pytest.param({"allowed.py": f'EXAMPLE = "{AWS}"  # containerize: allow-secret\n'},
                 id="allow-marker-after-review"),
    pytest.param({"cert.pem": "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n"
                  "-----END CERTIFICATE-----\n"}, id="a-certificate-pem"),
    pytest.param({"model.bin": b"\x00\x01" + f"{AWS}".encode() + bytes(5000)},
                 id="binary-file-skipped"),
    pytest.param({".env.example": "API_KEY=\nDB_PASSWORD=changeme\n"},
                 id="env-example-template"),
    pytest.param({"package-lock.json": json.dumps({"packages": {"node_modules/a": {
        "integrity": "sha512-" + base64.b64encode(RNG.randbytes(64)).decode(),
        "resolved": "https://registry.npmjs.org/a/-/a-1.0.0.tgz"}}}, indent=2)},
                 id="lock-file-integrity-hashes"),
    pytest.param({"aws_docs.md": "Use a key such as `AKIAIOSFODNN7EXAMPLE` in the docs.\n"},
                 id="vendor-documented-sample-key"),
    pytest.param({"kinds.py": 'secret_type = "Telegram Bot Token"\n'
                  'password_field = "MyDatabasePassword"\npwd = "pkg.module:Class"\n'},
                 id="names-and-words-assigned-to-secret-names"),
    pytest.param({"shown.txt": "index: https://team:***@repo.example/simple\n"
                  "template: https://{user}:{password}@host/\n"}, id="masked-urls"),
]


@pytest.mark.hostile
@pytest.mark.parametrize("files", KEPT)
def test_ml_and_ordinary_files_go_into_the_image(tmp_path: Path, files: dict) -> None:
    root = tmp_path / "proj"
    _write(root, {"nb.ipynb": _nb(_code("from tokenizer import Tokenizer\n")), **files})
    kept = project.collect(root, 50_000_000, notebook="nb.ipynb")
    assert sorted(kept.files) == sorted(["nb.ipynb", *files]), kept.left_out
    assert kept.left_out == []


CREDENTIALS = [".env", ".env.production", "id_rsa", "id_ed25519", "server.key", ".netrc",
               ".pypirc", ".git-credentials", ".npmrc", "kubeconfig", ".aws/credentials",
               ".aws/config", ".docker/config.json", ".kube/config", ".azure/accessTokens.json",
               ".config/gcloud/application_default_credentials.json",
               "application_default_credentials.json", "deploy-service-account.json",
               "tls/key.pem"]


@pytest.mark.hostile
@pytest.mark.parametrize("rel", CREDENTIALS)
def test_credential_files_by_nature_are_left_out_with_a_reason(tmp_path: Path,
                                                              rel: str) -> None:
    root = tmp_path / "proj"
    body = PRIVATE if rel.endswith(".pem") else f"x = {AWS}\n"
    _write(root, {"nb.ipynb": _nb(), rel: body})
    kept = project.collect(root, 50_000_000, notebook="nb.ipynb")
    assert kept.files == ["nb.ipynb"]
    assert len(kept.left_out) == 1 and kept.left_out[0].startswith(f"{rel}: ")
    assert "left out" in kept.left_out[0] and AWS not in kept.left_out[0]


@pytest.mark.hostile
@pytest.mark.parametrize(("ignore", "files", "expected"), [
    pytest.param("*.json\n!tokenizer.json\n", ["a.json", "tokenizer.json"], ["tokenizer.json"],
                 id="negation-brings-a-file-back"),
    pytest.param("!a.txt\n*.txt\n", ["a.txt", "b.txt"], [], id="last-match-wins"),
    pytest.param("data/\n!data/keep.csv\n", ["data/big.csv", "data/keep.csv"],
                 ["data/keep.csv"], id="negation-inside-an-ignored-folder"),
    pytest.param("**/*.bin\n", ["w.bin", "deep/er/w.bin", "w.txt"], ["w.txt"],
                 id="double-star"),
    pytest.param("/secret.yaml\n# a comment\n", ["secret.yaml", "sub/secret.yaml"],
                 ["sub/secret.yaml"], id="leading-slash-and-comments"),
])
def test_dockerignore_follows_the_engines_rules(tmp_path: Path, ignore: str,
                                                files: list[str],
                                                expected: list[str]) -> None:
    root = tmp_path / "proj"
    _write(root, {".dockerignore": ignore, **{f: "x\n" for f in files}})
    kept = project.collect(root, 50_000_000)
    assert [f for f in kept.files if f != ".dockerignore"] == expected


@pytest.mark.hostile
def test_a_link_inside_the_project_is_followed_and_one_outside_is_named(
        tmp_path: Path) -> None:
    root, outside = tmp_path / "proj", tmp_path / "home"
    _write(root, {"nb.ipynb": _nb(), "shared/tokenizer.json": _vocab()})
    _write(outside, {"creds.yaml": f"aws_access_key_id: {AWS}\n", "data.csv": "a,b\n"})
    os.symlink(root / "shared/tokenizer.json", root / "tokenizer.json")
    os.symlink(outside / "creds.yaml", root / "creds.yaml")
    os.symlink(outside, root / "home")
    os.symlink(root / "gone.txt", root / "broken.txt")
    kept = project.collect(root, 50_000_000, notebook="nb.ipynb")
    assert kept.files == ["nb.ipynb", "shared/tokenizer.json", "tokenizer.json"]
    reasons = "\n".join(kept.left_out)
    assert f"creds.yaml: a link to {outside / 'creds.yaml'}, outside the project" in reasons
    assert "home: a link to" in reasons and "broken.txt: a broken link" in reasons
    assert AWS not in reasons


@pytest.mark.hostile
def test_a_link_to_a_secret_inside_the_project_names_the_link(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _write(root, {".dockerignore": "vault/\n", "vault/k.yaml": f"k: {AWS}\n"})
    os.symlink(root / "vault/k.yaml", root / "settings.yaml")
    with pytest.raises(SecretFoundError, match="settings.yaml:1: AWS access key"):
        project.collect(root, 50_000_000)


@pytest.mark.hostile
def test_the_notebooks_own_outputs_are_left_to_the_outputs_check(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    nb = _nb(_code("print(t)\n", [_stream(f"t={GITHUB}\n")]))
    _write(root, {"nb.ipynb": nb})
    assert project.collect(root, 50_000_000, notebook="nb.ipynb").files == ["nb.ipynb"]
    with pytest.raises(SecretFoundError) as err:
        project.check_outputs(json.loads(nb), allow=False)
    assert "cell 1: GitHub token" in err.value.message and GITHUB not in err.value.one_line()
    project.check_outputs(json.loads(nb), allow=True)


@pytest.mark.hostile
def test_a_rebuild_rescans_only_changed_files_and_still_sees_new_secrets(
        tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _write(root, {"nb.ipynb": _nb(), "a.yaml": "x: 1\n", "tokenizer.json": _vocab()})
    project.collect(root, 50_000_000)
    cache = secretscan.default_cache()
    assert len(cache.entries) == 3
    (root / "a.yaml").write_text(f"x: 1\naws_access_key_id: {AWS}\n")
    with pytest.raises(SecretFoundError, match="a.yaml:2: AWS access key"):
        project.collect(root, 50_000_000)
    assert len(secretscan.default_cache().entries) == 4
    stored = (tmp_path / "cache" / "secretscan" / "results.json").read_text()
    assert AWS not in stored and AWS[:8] not in stored


def test_the_scanner_names_each_kind_in_a_line() -> None:
    assert secretscan.scan_line(f"aws = '{AWS}'")[0][0] == "AWS access key"
    assert secretscan.scan_line("vocab = {'token': 3, 'password': 4}") == []
