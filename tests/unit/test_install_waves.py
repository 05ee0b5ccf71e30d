"""Installs in waves: one uv run installs every missing distribution, and the waves are
compiled and land in the store in the order given, each announced once its folders are there
(a build writes and loads their layers while later waves still compile)."""

from __future__ import annotations

from pathlib import Path

import pytest
from jc_support import pure_wheel

from jupyter_containerize.core.image import installer, layerstream


@pytest.fixture()
def wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("JUPYTER_CONTAINERIZE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("UV_OFFLINE", "1")
    (tmp_path / "wheels").mkdir()
    names = [f"wave{c}" for c in "abcdefgh"]
    return {f"{n}-1.0": str(pure_wheel(tmp_path / "wheels", n)) for n in names}


def test_waves_are_cut_in_order_and_never_too_small() -> None:
    keys = [f"k{i}" for i in range(30)]
    cut = layerstream.waves(keys)
    assert [k for w in cut for k in w] == keys
    assert 1 < len(cut) <= layerstream.WAVES_MAX
    assert min(len(w) for w in cut) >= layerstream.WAVE_MIN
    assert layerstream.waves(keys[:7]) == [keys[:7]]  # too few to be worth a second load
    assert layerstream.waves([]) == []


def test_each_wave_is_in_the_store_when_announced_and_no_later_one_is(
        wheels: dict[str, str]) -> None:
    keys = sorted(wheels)
    cut = [keys[:2], keys[2:5], keys[5:]]
    root = installer.store("3.11", "linux/amd64")
    seen: list[list[str]] = []

    def on_wave(done: list[str]) -> None:
        present = {k for k in keys if (root / k).is_dir()}
        assert present == {k for w in [*seen, done] for k in w}, (done, present)
        seen.append(done)

    folders = installer.ensure(wheels, "3.11", "linux/amd64", None, waves=cut,
                               on_wave=on_wave)
    assert seen == cut
    for key, folder in folders.items():
        name = key.split("-")[0]
        module = folder / "lib/python3.11/site-packages" / name / "__init__.py"
        assert module.read_text() == f"VALUE = {name!r}\n"
    # nothing is missing now: a second call installs nothing and announces nothing
    again: list[list[str]] = []
    installer.ensure(wheels, "3.11", "linux/amd64", None, waves=cut, on_wave=again.append)
    assert again == [] and installer.missing(wheels, "3.11", "linux/amd64") == []


def test_keys_left_out_of_the_waves_still_install(wheels: dict[str, str]) -> None:
    keys = sorted(wheels)
    seen: list[list[str]] = []
    installer.ensure(wheels, "3.11", "linux/amd64", None, waves=[keys[:3]],
                     on_wave=seen.append)
    assert seen == [keys[:3], keys[3:]]


def test_two_versions_of_one_name_both_install(tmp_path: Path,
                                               wheels: dict[str, str]) -> None:
    """The tool environment may pin another version of a distribution the notebook's
    environment has: one target folder cannot hold both, and each lands in its own key."""
    newer = pure_wheel(tmp_path / "wheels", "wavea", version="2.0")
    both = {**wheels, "wavea-2.0": str(newer)}
    keys = sorted(both)
    seen: list[list[str]] = []
    folders = installer.ensure(both, "3.11", "linux/amd64", None, waves=[keys[:4], keys[4:]],
                               on_wave=seen.append)
    assert seen == [keys[:4], keys[4:]]
    for key in ("wavea-1.0", "wavea-2.0"):
        info = folders[key] / "lib/python3.11/site-packages" / f"{key}.dist-info"
        assert (info / "METADATA").read_text().endswith(f"Version: {key.split('-')[1]}\n")
