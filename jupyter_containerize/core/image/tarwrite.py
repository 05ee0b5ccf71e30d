"""Layer tars written directly: the bytes of a POSIX (pax) tar, hashed as they are written.

A layer holds tens of thousands of members. Building each header with :mod:`tarfile` (a
``TarInfo``, copied, checked field by field) took half of a layer's writing time, so this
module packs the headers itself. Its output is byte for byte what ``tarfile`` writes in
``PAX_FORMAT`` for the same members (a unit test holds it to that), so a layer's diff ID does
not depend on which Python version wrote it: a ustar header per member, preceded by a pax
extended header when a name or link target is not ASCII or is longer than 100 characters, or
when a number does not fit its field; data padded to 512 bytes; two zero blocks and padding to
a 10240-byte record at the end.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO

BLOCK = 512
RECORD = 20 * BLOCK
MAGIC = b"ustar\x0000"
REG, SYMLINK, DIR, PAX = b"0", b"2", b"5", b"x"
FLUSH_AT = 1 << 20
# uname, gname, devmajor, devminor and prefix (always empty), then the block's last 12 bytes
_TAIL = bytes(32 + 32 + 8 + 8 + 155 + 12)


def _number(value: int, digits: int) -> bytes:
    return b"%0*o\0" % (digits - 1, value)


def _text(value: str, length: int) -> bytes:
    raw = value.encode("ascii", "replace")[:length]
    return raw + bytes(length - len(raw))


def _ustar(name: str, mode: int, uid: int, gid: int, size: int, mtime: int, kind: bytes,
           linkname: str) -> bytes:
    head = b"".join([
        _text(name, 100), _number(mode & 0o7777, 8), _number(uid, 8), _number(gid, 8),
        _number(size, 12), _number(mtime, 12),
    ])
    rest = kind + _text(linkname, 100) + MAGIC + _TAIL
    checksum = 256 + sum(head) + sum(rest)  # the checksum field counts as eight spaces
    return head + b"%06o\0 " % checksum + rest


def _pax_records(fields: dict[str, str]) -> bytes:
    try:
        values = [value.encode("utf-8") for value in fields.values()]
        records = []
    except UnicodeEncodeError:  # a name that is not UTF-8 on disk: its bytes, as they are
        values = [value.encode("utf-8", "surrogateescape") for value in fields.values()]
        records = [b"21 hdrcharset=BINARY\n"]
    for key, value in zip(fields, values):
        body = b" %s=%s\n" % (key.encode(), value)
        length = len(body)
        while len(str(length)) + len(body) != length:  # the length counts its own digits
            length = len(str(length)) + len(body)
        records.append(str(length).encode() + body)
    return b"".join(records)


def header(name: str, kind: bytes, *, mode: int, owner: tuple[int, int], mtime: int,
           size: int = 0, linkname: str = "") -> bytes:
    """The header block(s) of one member (a directory's name gets its trailing slash here)."""
    if kind == DIR and not name.endswith("/"):
        name += "/"
    uid, gid = owner
    pax: dict[str, str] = {}
    for key, text in (("path", name), ("linkpath", linkname)):
        if not text.isascii() or len(text) > 100:
            pax[key] = text
    numbers = {"uid": (uid, 8), "gid": (gid, 8), "size": (size, 12), "mtime": (mtime, 12)}
    fitted = {}
    for key, (value, digits) in numbers.items():
        fits = 0 <= value < 8 ** (digits - 1)
        fitted[key] = value if fits else 0
        if not fits:
            pax[key] = str(value)
    block = _ustar(name, mode, fitted["uid"], fitted["gid"], fitted["size"], fitted["mtime"],
                   kind, linkname)
    if not pax:
        return block
    records = _pax_records(pax)
    return (_ustar("././@PaxHeader", 0, 0, 0, len(records), 0, PAX, "")
            + records + bytes(-len(records) % BLOCK) + block)


class TarWriter:
    """Writes members to ``fh`` and hashes every byte: ``digest`` and ``size`` once closed."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.hash = hashlib.sha256()
        self.size = 0
        self._buffer = bytearray()

    def _write(self, data: bytes | bytearray) -> None:
        if len(data) >= FLUSH_AT:  # a large file's chunk goes out as it is, not copied
            self._flush()
            self._out(data)
            return
        self._buffer += data
        if len(self._buffer) >= FLUSH_AT:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._out(self._buffer)
            self._buffer = bytearray()

    def _out(self, data: bytes | bytearray) -> None:
        self.hash.update(data)
        self.fh.write(data)
        self.size += len(data)

    def directory(self, name: str, mode: int, owner: tuple[int, int], mtime: int) -> None:
        self._write(header(name, DIR, mode=mode, owner=owner, mtime=mtime))

    def symlink(self, name: str, target: str, mode: int, owner: tuple[int, int],
                mtime: int) -> None:
        self._write(header(name, SYMLINK, mode=mode, owner=owner, mtime=mtime,
                           linkname=target))

    def data(self, name: str, data: bytes, mode: int, owner: tuple[int, int],
             mtime: int) -> None:
        self._write(header(name, REG, mode=mode, owner=owner, mtime=mtime, size=len(data)))
        self._write(data)
        self._write(bytes(-len(data) % BLOCK))

    def file(self, name: str, source: Path, mode: int, owner: tuple[int, int],
             mtime: int) -> None:
        with open(source, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            self._write(header(name, REG, mode=mode, owner=owner, mtime=mtime, size=size))
            left = size
            while left:
                chunk = fh.read(min(left, FLUSH_AT))
                if not chunk:
                    raise OSError(f"{source} shrank while it was written into a layer")
                self._write(chunk)
                left -= len(chunk)
        self._write(bytes(-size % BLOCK))

    def close(self) -> None:
        """The end-of-archive blocks, then everything still buffered."""
        end = self.size + len(self._buffer) + 2 * BLOCK
        self._write(bytes(2 * BLOCK + (-end % RECORD)))
        self._flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()
