"""``%containerize VERB ...``: the CLI's verbs inside a kernel, with the CLI's own options.

Each verb is parsed by the CLI's argparse subparser (``cli.parser()``), so names and defaults
are the CLI's; ``%config ContainerizeMagics.<trait>`` changes a default. The notebook is the
saved one the kernel belongs to (``__session__``, or ``__vsc_ipynb_file__`` in VS Code), and
the environment is captured in this process, so ``%pip install`` and imports made here count.
Errors are one ``UsageError`` line with the hint. ``%containerize`` alone shows the panel.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from traitlets import Dict, Enum, Unicode
from traitlets.config import Configurable

from ..core.errors import ContainerizeError

NO_NOTEBOOK = (
    "this kernel does not know which notebook it belongs to (no __session__ or "
    "__vsc_ipynb_file__): pass the notebook path, e.g. %containerize build analysis.ipynb"
)
IN_PROCESS = {"build", "freeze", "run", "serve", "capture", "login"}
_CELL_MARK = re.compile(r"^(Executing|Ending) Cell \d+-*$")


class _HelpShown(Exception):
    """``-h`` printed a verb's help: nothing else to do."""


def session_notebook(namespace: dict[str, Any], cwd: str | Path | None = None) -> Path | None:
    """The saved notebook of this kernel's session, or None when the kernel cannot tell."""
    here = Path(cwd or os.getcwd())
    for key in ("__vsc_ipynb_file__", "__session__"):
        value = namespace.get(key)
        if not isinstance(value, str) or not value.endswith(".ipynb"):
            continue
        path = Path(value).expanduser()
        for candidate in (path, here / path, here / path.name):
            if candidate.is_absolute() and candidate.is_file():
                return candidate
    return None


def serve_target(name: str, namespace: dict[str, Any], choose: str = "") -> tuple[str, Any, str]:
    """``(kind, target, note)`` for ``serve NAME``: a bound identifier is the live object.

    ``choose`` is ``"object"`` or ``"file"`` (``--object`` / ``--file``); the note says which
    one was taken when NAME is both a variable and a file.
    """
    bound = name.isidentifier() and name in namespace
    exists = Path(name).expanduser().exists()
    if choose == "object":
        if not bound:
            raise ContainerizeError(f"{name} is not a variable of this kernel",
                                    hint="define it first, or pass --file to serve a file")
        return "object", namespace[name], ""
    if choose == "file" or not bound:
        return "file", Path(name).expanduser(), ""
    note = ""
    if exists:
        note = (f"{name} is both a variable of this kernel and a file: serving the variable "
                f"(pass --file to serve the file)")
    return "object", namespace[name], note


def _raise_parse_error(parser: argparse.ArgumentParser) -> Callable[[str], NoReturn]:
    def error(message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{parser.prog} -h`)")

    return error


def _exit(status: int = 0, message: str | None = None) -> NoReturn:
    if status:
        raise UsageError((message or f"exit status {status}").strip())
    raise _HelpShown


def _tame(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Errors become UsageError, ``-h`` does not exit, ``notebook`` may be left out."""
    parser.prog = parser.prog.replace("jupyter containerize", "%containerize", 1)
    parser.error = _raise_parse_error(parser)  # type: ignore[method-assign, assignment]
    parser.exit = _exit  # type: ignore[method-assign]
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if action.dest == "notebook" and not action.option_strings and action.nargs is None:
            action.nargs, action.required, action.default = "?", False, None
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                _tame(sub)
    return found


def verb_parser(defaults: dict[str, Any]) -> argparse.ArgumentParser:
    """The CLI's parser, tamed for a kernel, with ``defaults`` for options that exist."""
    from ..cli import app as cli

    top = cli.parser()
    subs = _tame(top)
    serve = subs.get("serve")
    if serve is not None and not any(a.dest == "object" for a in serve._actions):
        group = serve.add_mutually_exclusive_group()
        group.add_argument("--object", action="store_true", help="NAME is a live object")
        group.add_argument("--file", action="store_true", help="NAME is a file path")
    for sub in subs.values():
        dests = {a.dest for a in sub._actions}
        sub.set_defaults(**{k: v for k, v in defaults.items() if k in dests})
    return top


def _top_level_modules() -> set[str]:
    from ..core.env.capture import imported_modules

    return set(imported_modules())


def _register_formatters(shell: Any) -> None:
    from ..core.models import Deployment, EnvironmentSpec, RunRecord

    def run_text(obj: Any, p: Any, cycle: bool) -> None:
        from ..widget import run_summary

        p.text(run_summary(obj))

    def deployment_text(obj: Any, p: Any, cycle: bool) -> None:
        p.text(f"deployment {obj.name}: {obj.url}  (image {obj.image})")

    def spec_text(obj: Any, p: Any, cycle: bool) -> None:
        p.text(f"Python {obj.python_version}, {len(obj.distributions)} distributions, "
               f"imported: {', '.join(obj.imported) or 'nothing'}"
               + "".join(f"\n  warning: {w}" for w in obj.warnings))

    plain = shell.display_formatter.formatters["text/plain"]
    plain.for_type(RunRecord, run_text)
    plain.for_type(Deployment, deployment_text)
    plain.for_type(EnvironmentSpec, spec_text)


class CellProgress:
    """Progress in the cell's output: a bar widget (with ipywidgets) or text lines."""

    def __init__(self, widget: bool) -> None:
        self.widget = widget
        self.view: Any = None

    def __call__(self, event: Any) -> None:
        if self.widget and self.view is None:
            from IPython.display import display

            from ..widget import ProgressView

            self.view = ProgressView()
            display(self.view)
        if self.view is not None:
            self.view(event)
        if event.kind == "phase":
            print(f"==> {event.message}", flush=True)
        elif event.kind == "progress" and event.total:
            if self.view is None:
                done = int(30 * (event.current or 0) / event.total)
                end = "\n" if (event.current or 0) >= event.total else "\r"
                print(f"  [{'#' * done}{'-' * (30 - done)}] {event.current}/{event.total} "
                      f"{event.phase}", end=end, flush=True)
        elif event.message.strip() and not _CELL_MARK.match(event.message.strip()):
            print(f"  {event.message.rstrip()}", flush=True)

    def done(self, ok: bool) -> None:
        if self.view is not None:
            self.view.done(ok)


@magics_class
class ContainerizeMagics(Magics, Configurable):
    """``%containerize VERB [options]`` and, alone, the panel. ``%config`` sets the traits."""

    base_image = Unicode("", help="Default --base for build and run.").tag(config=True)
    builder = Enum(["auto", "layers", "classic"], "auto", help="Default --builder.").tag(
        config=True)
    lock_mode = Enum(["full", "imported"], "full", help="Default --lock.").tag(config=True)
    platform = Unicode("linux/amd64", help="Default --platform.").tag(config=True)
    registry = Unicode("", help="Team registry host[:port][/namespace].").tag(config=True)
    extra_labels = Dict(help="Labels added to images and containers made here.").tag(
        config=True)
    progress = Enum(["auto", "widget", "text"], "auto",
                    help="Progress as a bar widget, as text, or a widget when ipywidgets is "
                         "there.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._ours: set[str] = set()
        self._call_before: set[str] = set()
        if shell is not None:
            _register_formatters(shell)

    def containerize_config(self) -> Any:
        """The core's ContainerizeConfig, fed by these traits."""
        from ..core.config import ContainerizeConfig

        values = {k: getattr(self, k) for k in ("base_image", "builder", "lock_mode",
                                               "platform", "registry") if getattr(self, k)}
        if self.extra_labels:
            values["extra_labels"] = {**ContainerizeConfig().extra_labels, **self.extra_labels}
        return ContainerizeConfig(parent=self, **values)

    def _defaults(self) -> dict[str, Any]:
        """CLI option defaults that ``%config`` changed (the others stay the CLI's)."""
        changed = {name: getattr(self, name) for name in
                   ("base_image", "builder", "lock_mode", "platform", "registry")
                   if getattr(self, name) != self.trait_defaults(name)}
        rename = {"base_image": "base", "lock_mode": "lock"}
        return {rename.get(k, k): v for k, v in changed.items()}

    @line_magic
    def containerize(self, line: str) -> Any:
        """%containerize [VERB [options]]: the CLI's verbs; alone, the panel."""
        self._call_before = _top_level_modules()
        try:
            if not line.strip():
                return self.panel()
            args = verb_parser(self._defaults()).parse_args(shlex.split(line))
            return self._dispatch(args)
        except _HelpShown:
            return None
        except ContainerizeError as exc:
            raise UsageError(exc.one_line()) from None
        except KeyboardInterrupt:
            raise UsageError("interrupted") from None
        except ValueError as exc:  # shlex: unbalanced quotes
            raise UsageError(f"{exc} (check the quotes of the line)") from None
        finally:
            self._ours |= _top_level_modules() - self._call_before

    # --- helpers ---------------------------------------------------------------------
    def session_notebook(self) -> Path | None:
        """This kernel's saved notebook, or None."""
        return session_notebook(self.shell.user_ns if self.shell else {})

    def notebook(self, given: str | None = None) -> Path:
        """The notebook a verb acts on: the one given, else this kernel's saved notebook."""
        if given:
            return Path(given).expanduser()
        found = self.session_notebook()
        if found is None:
            raise UsageError(NO_NOTEBOOK)
        return found

    def live_spec(self, notebook: Path | None = None) -> Any:
        """This kernel's environment, captured in-process (``live_kernel=True``)."""
        from ..core.env.capture import capture_environment
        from ..core.models import EnvironmentSpec

        ours = self._ours | (_top_level_modules() - self._call_before)
        wanted = self._notebook_imports(notebook)
        names = {m for m in _top_level_modules()
                 if (m not in ours or m in wanted) and not _vendored(m)}
        names.discard(__package__ or "jupyter_containerize")
        return EnvironmentSpec.from_json(capture_environment(sorted(names)))

    @staticmethod
    def _notebook_imports(notebook: Path | None) -> set[str]:
        if notebook is None or not notebook.is_file():
            return set()
        from ..core.env.notebook import imports_from_notebook, load_notebook

        try:
            return set(imports_from_notebook(load_notebook(notebook)))
        except ContainerizeError:
            return set()

    def _progress(self, quiet: bool) -> CellProgress | Callable[[Any], None]:
        if quiet:
            return lambda _event: None
        widget = self.progress == "widget"
        if self.progress == "auto":
            widget = hasattr(self.shell, "kernel") and _has_ipywidgets()
        return CellProgress(widget)

    def panel(self) -> Any:
        """The ipywidgets panel over this kernel's notebook and environment."""
        from ..widget import ContainerizePanel

        ns = self.shell.user_ns if self.shell else {}
        return ContainerizePanel(
            session_notebook(ns), capture=self.live_spec,
            resolve=lambda name, choose: serve_target(name, ns, choose),
            options={k: v for k, v in self._defaults().items() if k in ("base", "lock")},
        )

    def _dispatch(self, args: argparse.Namespace) -> Any:
        show = self._progress(args.quiet)
        ok = False
        try:
            if args.verb in IN_PROCESS and not getattr(args, "rollback", False):
                from . import verbs as magic_verbs

                result = magic_verbs.VERBS[args.verb](self, args, show)
            else:
                _delegate(args, show)
                result = None
            ok = True
            return result
        finally:
            if isinstance(show, CellProgress):
                show.done(ok)


def _vendored(name: str) -> bool:
    from ..core.env.capture import vendored_module

    return vendored_module(sys.modules.get(name))


def _has_ipywidgets() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _delegate(args: argparse.Namespace, show: Callable[[Any], None]) -> None:
    """Housekeeping and sharing verbs: the CLI's own handler, printing into the cell."""
    from ..cli import app as cli
    from ..cli import more as cli_more

    try:
        code = cli._dispatch(args) if args.verb in ("doctor", "base") else cli_more.dispatch(
            args, show)
    except SystemExit as exc:
        raise UsageError(str(exc.code).removeprefix("error: ")) from None
    if code:
        raise UsageError(f"{args.verb} failed with exit code {code} (see the output above)")
    sys.stdout.flush()
