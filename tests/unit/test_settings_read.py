"""Every setting of ContainerizeConfig is documented in the README's table and read by the
code: a setting nobody reads is a switch that silently does nothing."""

from __future__ import annotations

import re
from pathlib import Path

import jupyter_containerize
from jupyter_containerize.core.config import ContainerizeConfig
from jupyter_containerize.core.options import VERBS

PACKAGE = Path(jupyter_containerize.__file__).parent
README = PACKAGE.parent / "README.md"


def _settings() -> list[str]:
    return sorted(ContainerizeConfig.class_trait_names(config=True))


def test_every_setting_is_in_the_readme_table() -> None:
    table = README.read_text(encoding="utf-8")
    missing = [n for n in _settings() if not re.search(rf"^\|[^\n]*`{n}`", table, re.M)]
    assert not missing, f"settings missing from the README's configuration table: {missing}"


def test_every_setting_is_read_outside_its_declaration() -> None:
    backed = {o.trait for v in VERBS.values() for o in v.options if o.trait}
    switches = {v.switch for v in VERBS.values() if v.switch}
    sources = [p.read_text(encoding="utf-8") for p in PACKAGE.rglob("*.py")
               if p.name != "config.py"]
    unread = [n for n in _settings()
              if n not in backed | switches
              and not any(re.search(rf"\.{n}\b", text) for text in sources)]
    assert not unread, f"settings no code reads: {unread}"
