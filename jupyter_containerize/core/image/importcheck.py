"""The import check: do the top-level modules of newly installed distributions import?

In the image (a throwaway container) after a load, or, with no engine, with this machine's
interpreter over the image's site-packages. A module that does not import fails the build with
the fix: the apt package that gives a missing shared library, else a pin with a wheel.
"""

from __future__ import annotations

import json

from ..engine import client as engine
from ..errors import BuildError
from . import imagefs

SMOKE = """
import importlib, json, os, sys

def check(names, out):
    for name in names:
        try:
            importlib.import_module(name)
            error = None
        except BaseException as exc:
            error = "%s: %s" % (type(exc).__name__, exc)
        out.write(json.dumps([name, error]) + "\\n")
        out.flush()

def start(share):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        with os.fdopen(w, "w") as out:
            check(share, out)
        os._exit(0)
    os.close(w)
    return pid, r, share

# the modules dealt out to one process per core (at most four), each importing its share in
# a fresh fork; a module that kills its process is named by the first name it did not
# report, and the rest of that share goes on in a new fork
names = sys.argv[1:]
count = max(1, min(len(names), os.cpu_count() or 1, 4))
failed = {}
pending = [names[i::count] for i in range(count)]
while pending:
    workers = [start(share) for share in pending if share]
    pending = []
    for pid, r, share in workers:
        with os.fdopen(r) as got:
            reported = [json.loads(line) for line in got if line.strip()]
        status = os.waitpid(pid, 0)[1]
        failed.update((name, error) for name, error in reported if error)
        if len(reported) < len(share):
            how = ("signal %d" % os.WTERMSIG(status) if os.WIFSIGNALED(status)
                   else "exit status %d" % os.WEXITSTATUS(status))
            failed[share[len(reported)]] = (
                "ImportError: the interpreter died importing it (%s)" % how)
            pending.append(share[len(reported) + 1:])
print(json.dumps(failed))
"""

LIBRARY_PACKAGES = {
    "libgomp.so.1": "libgomp1",
    "libGL.so.1": "libgl1",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libsndfile.so": "libsndfile1",
    "libpq.so.5": "libpq5",
    "libstdc++.so.6": "libstdc++6",
    "libX11.so.6": "libx11-6",
    "libxml2.so.2": "libxml2",
}


def _broken(module: str, error: str) -> bool:
    """A failure that means the image is broken, not an optional dependency left out."""
    if "shared object" in error or "ELF" in error:
        return True
    if f"No module named '{module}'" in error:
        return True  # the distribution's own module is not there
    return "ImportError" in error and "No module named" not in error


def smoke_test(reference: str, modules: list[str]) -> None:
    """Import new distributions' top-level modules in the image; fail with the fix."""
    if not modules:
        return
    code, out = engine.run_once(reference, [f"{imagefs.ENV}/bin/python", "-c", SMOKE, *modules])
    judge(out, "in the image")


def judge(out: str, where: str) -> None:
    """Read the import check's report; a module that cannot import fails with the fix."""
    try:
        failed = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise BuildError(f"the smoke test could not run {where}: {out[-300:]}") from exc
    hard = {m: e for m, e in failed.items() if _broken(m, e)}
    if hard:
        name, err = next(iter(hard.items()))
        lib = next((lib for lib in LIBRARY_PACKAGES if lib.split(".so")[0] in err), None)
        fix = (
            f"add {LIBRARY_PACKAGES[lib]} to apt.txt beside the notebook"
            if lib
            else "pin a version with a wheel for the image's platform"
        )
        raise BuildError(
            f"module {name} does not import {where}: {err}", hint=fix, failed=hard
        )
