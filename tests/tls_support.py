"""Certificates for TLS engine tests, made with the openssl CLI: a CA, a server certificate
for 127.0.0.1 and a client certificate, laid out as DOCKER_CERT_PATH expects them."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Certs:
    folder: Path  # ca.pem, cert.pem, key.pem: a complete DOCKER_CERT_PATH
    ca: Path
    cert: Path  # the client's
    key: Path
    server_cert: Path
    server_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _signed(name: str, cn: str, extensions: str, cwd: Path) -> None:
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=cwd)
    (cwd / f"{name}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
             "-CAcreateserial", "-days", "2", "-out", f"{name}-cert.pem",
             "-extfile", f"{name}.ext", cwd=cwd)


def make_certs(folder: Path) -> Certs:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=jupyter-containerize test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=folder)
    _signed("server", "127.0.0.1",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n", folder)
    _signed("client", "client", "extendedKeyUsage=clientAuth\n", folder)
    shutil.copy(folder / "client-cert.pem", folder / "cert.pem")
    shutil.copy(folder / "client-key.pem", folder / "key.pem")
    return Certs(folder=folder, ca=folder / "ca.pem", cert=folder / "cert.pem",
                 key=folder / "key.pem", server_cert=folder / "server-cert.pem",
                 server_key=folder / "server-key.pem")
