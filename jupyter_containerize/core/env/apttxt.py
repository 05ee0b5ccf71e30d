"""``apt.txt`` beside the notebook: the system packages an image needs, checked before use.

Each name goes into an ``apt-get install`` command line, so anything that is not a Debian
package name (optionally ``:ARCH`` and ``=VERSION``) is refused with its line number.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import ContainerizeError

FILENAME = "apt.txt"
# Debian policy 5.6.1 (names), 5.6.12 (versions); an architecture qualifier as apt takes it.
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+(:[a-z0-9-]+)?(=[A-Za-z0-9.+~:-]+)?")


class AptListError(ContainerizeError):
    """An apt.txt that cannot be read or names something that is not a package."""


def apt_packages(folder: Path) -> list[str]:
    """The package names in ``folder/apt.txt`` (none when there is no such file)."""
    path = folder / FILENAME
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AptListError(
            f"{path} cannot be read: {exc}", hint="save it as UTF-8 text, one package per line"
        ) from exc
    packages: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        for name in line.split():
            if not _PACKAGE.fullmatch(name):
                raise AptListError(
                    f"{path} line {number}: {name!r} is not a Debian package name",
                    hint="write one package per line, lowercase letters, digits and + - . "
                    "(e.g. libgomp1, or libgomp1=12.2.0-14); comments start with #",
                )
            packages.append(name)
    return packages


__all__ = ["apt_packages", "AptListError", "FILENAME"]
