"""Content by digest: a blob from a file, bytes or a stream, and a reader that hashes each
byte once as it first passes, so a blob that does not match its digest is never sent whole."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union

from ..errors import ContainerizeError
from .manifest import OCI_LAYER

Opener = Callable[[], IO[bytes]]


@dataclass(frozen=True)
class Blob:
    """Content by digest: ``source`` is a path, bytes, or a callable opening a binary stream."""

    digest: str
    size: int
    media_type: str = OCI_LAYER
    source: Union[Path, str, bytes, Opener, None] = None
    name: str = ""  # what messages call it (a layer's file or comment)

    @classmethod
    def from_bytes(cls, data: bytes, media_type: str, name: str = "") -> Blob:
        return cls("sha256:" + hashlib.sha256(data).hexdigest(), len(data), media_type, data,
                   name)

    @classmethod
    def from_file(cls, path: Path | str, media_type: str = OCI_LAYER,
                  digest: str | None = None, name: str = "") -> Blob:
        """A file as a blob; its digest is computed when not given (one read)."""
        path = Path(path)
        if digest is None:
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            digest = "sha256:" + h.hexdigest()
        return cls(digest, path.stat().st_size, media_type, path, name or str(path))

    def open(self) -> IO[bytes]:
        if isinstance(self.source, (str, Path)):
            return open(self.source, "rb")
        if isinstance(self.source, bytes):
            return io.BytesIO(self.source)
        if callable(self.source):
            return self.source()
        raise ValueError(f"blob {self.digest} has no source to read")

    def label(self) -> str:
        return self.name or self.digest[:19]

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


class BlobReader:
    """Reads a blob from any offset, hashing each byte once, in order, as it first passes."""

    def __init__(self, blob: Blob) -> None:
        self.blob = blob
        self.hash = hashlib.sha256()
        self.hashed = 0
        self.fh: IO[bytes] | None = None
        self.pos = 0

    def read_at(self, offset: int, n: int) -> bytes:
        while offset > self.hashed:  # never skip a byte of the hash
            if not self.read_at(self.hashed, min(offset - self.hashed, 1 << 20)):
                break
        if self.fh is None or offset != self.pos:
            self._seek(offset)
        assert self.fh is not None
        data = self.fh.read(min(n, self.blob.size - offset))
        if offset + len(data) > self.hashed:
            self.hash.update(data[self.hashed - offset:])
            self.hashed = offset + len(data)
        self.pos = offset + len(data)
        return data

    def _seek(self, offset: int) -> None:
        if self.fh is not None:
            try:
                self.fh.seek(offset)
                self.pos = offset
                return
            except (OSError, ValueError):
                self.fh.close()
        self.fh = self.blob.open()
        left = offset
        while left:  # a stream that cannot seek: read again from the start
            skipped = self.fh.read(min(left, 1 << 20))
            if not skipped:
                break
            left -= len(skipped)
        self.pos = offset - left

    def verify(self) -> None:
        """The whole blob was read: its hash and size must be what the descriptor says."""
        got = "sha256:" + self.hash.hexdigest()
        if got != self.blob.digest or self.hashed != self.blob.size:
            raise ContainerizeError(
                f"layer {self.blob.label()} does not match its digest {self.blob.digest} "
                f"(its bytes hash to {got}, {self.hashed} of {self.blob.size} bytes): "
                "the file changed or is corrupt",
                hint="rebuild with `build --no-cache`, then push again")

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None
