"""Layer tars: the writer's bytes are exactly what Python's tarfile writes in PAX format, so a
layer's diff ID does not depend on which writer (or Python version) made it."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from jupyter_containerize.core.image import layers, tarwrite
from jupyter_containerize.core.image.layers import Entry


def tarfile_layer(entries: list[Entry], out: Path, mtime: int) -> bytes:
    """The same members written by the standard library (what layers were made with before)."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for e in sorted(entries, key=lambda e: e.name):
            info = tarfile.TarInfo(e.name)
            info.mtime, (info.uid, info.gid), info.mode = mtime, e.owner, e.mode
            info.uname = info.gname = ""
            if e.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif e.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, e.target
                tar.addfile(info)
            else:
                data = e.data if e.data is not None else e.source.read_bytes()  # type: ignore[union-attr]
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.read_bytes()


def awkward_entries(tmp_path: Path) -> list[Entry]:
    on_disk = tmp_path / "big.bin"
    on_disk.write_bytes(bytes(range(256)) * 5000)  # several flushes' worth of buffer
    entries = [
        Entry("opt", kind="dir", mode=0o755),
        Entry("opt/empty", data=b""),
        Entry("opt/one-block", data=b"x" * 512),
        Entry("opt/one-block-and-a-byte", data=b"y" * 513, mode=0o755),
        Entry("opt/big.bin", source=on_disk),
        Entry("opt/caf\u00e9", kind="dir", mode=0o755),
        Entry("opt/caf\u00e9/na\u00efve.py", data=b"print('hi')\n"),
        Entry("opt/\udcff-not-utf8", data=b"bytes\n"),  # a name that is not UTF-8 on disk
        Entry("opt/link", kind="symlink", target="../" + "t" * 120, mode=0o777),
        Entry("opt/short-link", kind="symlink", target="empty", mode=0o777),
        Entry("home", kind="dir", mode=0o755),
        Entry("home/user", kind="dir", mode=0o755, owner=(1000, 1000)),
        Entry("home/user/far-owner", data=b"z", owner=(3_000_000, 3_000_000)),
    ]
    # names around the 100-character ustar field and pax records of two and three digits
    for length in [*range(95, 106), *range(990, 1000)]:
        stem = "opt/" + "n" * (length - 4)
        entries.append(Entry(stem, data=b"."))
        entries.append(Entry(stem[:-1] + "d", kind="dir", mode=0o755))
    return entries


@pytest.mark.parametrize("mtime", [0, 1_700_000_000, 8 ** 11 + 5])
def test_a_layer_is_byte_for_byte_the_tar_the_standard_library_writes(
    tmp_path: Path, mtime: int
) -> None:
    entries = awkward_entries(tmp_path)
    ours = layers.write_layer(entries, tmp_path / "ours.tar", mtime)
    theirs = tarfile_layer(entries, tmp_path / "theirs.tar", mtime)
    assert (tmp_path / "ours.tar").read_bytes() == theirs
    assert ours.size == len(theirs)
    assert ours.diff_id == "sha256:" + hashlib.sha256(theirs).hexdigest()


def test_a_layer_reads_back_with_every_name_target_owner_and_content(tmp_path: Path) -> None:
    entries = awkward_entries(tmp_path)
    layers.write_layer(entries, tmp_path / "l.tar", 0)
    with tarfile.open(tmp_path / "l.tar") as tar:
        got = {m.name.rstrip("/"): m for m in tar.getmembers()}
        for e in entries:
            member = got[e.name]
            assert (member.uid, member.gid, member.mode) == (*e.owner, e.mode)
            if e.kind == "symlink":
                assert member.issym() and member.linkname == e.target
            elif e.kind == "dir":
                assert member.isdir()
            else:
                want = e.data if e.data is not None else e.source.read_bytes()  # type: ignore[union-attr]
                assert tar.extractfile(member).read() == want  # type: ignore[union-attr]
    assert len(got) == len(entries)


def test_a_file_that_shrinks_while_written_is_an_error_not_a_short_layer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"a" * 4096)
    real_fstat = tarwrite.os.fstat

    class Grown:
        def __init__(self, st: object) -> None:
            self.st_size = 8192

    monkeypatch.setattr(tarwrite.os, "fstat", lambda fd: Grown(real_fstat(fd)))
    with pytest.raises(OSError, match="shrank"):
        layers.write_layer([Entry("f", source=src)], tmp_path / "l.tar", 0)
