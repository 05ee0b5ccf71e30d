"""``%containerize VERB ...``: the CLI's verbs inside a kernel, with the CLI's own options.

The parser is the CLI's: made from the table of verbs and options (``core.options``), so names
and defaults are the same. The magic holds one ``ContainerizeConfig`` made from the
configuration file (``jupyter_containerize_config.*``) and the kernel's IPython configuration;
``%config ContainerizeConfig.<trait>`` changes it, and so the defaults, for every verb. The
notebook is the saved one the kernel belongs to (``__session__``, or ``__vsc_ipynb_file__`` in
VS Code), and the environment is captured in this process, so ``%pip install`` and imports
made here count. Errors are one ``UsageError`` line with the hint. ``%containerize`` alone
shows the panel.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from traitlets import Enum
from traitlets.config import Config, Configurable

from ..core import api
from ..core.commandline import command_parser
from ..core.config import ContainerizeConfig, load_config
from ..core.errors import ContainerizeError
from ..core.models import Deployment, EnvironmentSpec, RunRecord
from ..core.progress import event_text
from . import verbs
from .session import NO_NOTEBOOK, serve_target, session_notebook

__all__ = ["ContainerizeMagics", "serve_target", "session_notebook", "verb_parser"]


class _HelpShown(Exception):
    """``-h`` printed a verb's help: nothing else to do."""


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


def verb_parser(config: ContainerizeConfig | None = None) -> argparse.ArgumentParser:
    """The CLI's parser for a kernel, with the defaults ``config`` gives; ``serve`` also takes
    ``--object`` / ``--file``."""
    top = command_parser("%containerize", "Freeze, run, serve and share notebooks as images.",
                         config)
    serve = _tame(top)["serve"]
    group = serve.add_mutually_exclusive_group()
    group.add_argument("--object", action="store_true", help="NAME is a live object")
    group.add_argument("--file", action="store_true", help="NAME is a file path")
    return top


def settings(shell: Any = None) -> ContainerizeConfig:
    """The configuration file's ContainerizeConfig, with what the kernel's IPython
    configuration says over it."""
    merged = Config()
    merged.merge(load_config().config)
    if shell is not None:
        merged.merge(shell.config)
    return ContainerizeConfig(config=merged)


def _register_formatters(shell: Any) -> None:
    def run_text(obj: Any, p: Any, cycle: bool) -> None:
        p.text(obj.summary())

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

    def __init__(self, view_class: Callable[[], Any] | None) -> None:
        self.view_class = view_class
        self.view: Any = None

    def __call__(self, event: Any) -> None:
        if self.view_class is not None and self.view is None:
            from IPython.display import display

            self.view = self.view_class()
            display(self.view)
        if self.view is not None:
            self.view(event)
        text = event_text(event, bars=self.view is None)
        if text is not None:
            print(text[0], end=text[1], flush=True)

    def done(self, ok: bool) -> None:
        if self.view is not None:
            self.view.done(ok)


@dataclass(frozen=True)
class Widgets:
    """The ipywidgets front end the magic shows (the panel, the progress bar), handed over by
    the package's IPython entry point when ipywidgets is installed."""

    panel: Callable[..., Any]
    progress: Callable[[], Any]


@magics_class
class ContainerizeMagics(Magics, Configurable):
    """``%containerize VERB [options]`` and, alone, the panel. ``%config ContainerizeConfig``
    sets the defaults; ``%config ContainerizeMagics.progress`` how progress shows."""

    progress = Enum(["auto", "widget", "text"], "auto",
                    help="Progress as a bar widget, as text, or a widget when ipywidgets is "
                         "there.").tag(config=True)

    def __init__(self, shell: Any = None, widgets: Widgets | None = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.widgets = widgets
        self._ours: set[str] = set()
        self._call_before: set[str] = set()
        self.settings = settings(shell)
        if shell is not None:
            shell.configurables.append(self.settings)  # so %config ContainerizeConfig... works
            _register_formatters(shell)

    @line_magic
    def containerize(self, line: str) -> Any:
        """%containerize [VERB [options]]: the CLI's verbs; alone, the panel."""
        self._call_before = api.kernel_modules()
        try:
            if not line.strip():
                return self.panel()
            args = verb_parser(self.settings).parse_args(shlex.split(line))
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
            self._ours |= api.kernel_modules() - self._call_before

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

    def live_spec(self, notebook: Path | None = None) -> EnvironmentSpec:
        """This kernel's environment, captured in-process (``live_kernel=True``): the modules
        imported here, less the ones the magic itself brought in (unless the notebook imports
        them too)."""
        now = api.kernel_modules()
        ours = self._ours | (now - self._call_before)
        wanted = api.notebook_imports(notebook) if notebook and notebook.is_file() else set()
        names = {m for m in now
                 if (m not in ours or m in wanted) and not api.vendored(sys.modules.get(m))}
        names.discard("jupyter_containerize")
        return api.capture_live(sorted(names))

    def _progress(self, quiet: bool) -> Callable[[Any], None]:
        if quiet:
            return lambda _event: None
        widget = self.progress == "widget"
        if self.progress == "auto":
            widget = hasattr(self.shell, "kernel")
        return CellProgress(self.widgets.progress if widget and self.widgets else None)

    def panel(self) -> Any:
        """The ipywidgets panel over this kernel's notebook and environment."""
        if self.widgets is None:
            raise UsageError("the panel needs ipywidgets in this kernel "
                             "(pip install ipywidgets); the verbs work without it")
        ns = self.shell.user_ns if self.shell else {}
        return self.widgets.panel(
            session_notebook(ns), capture=self.live_spec, config=self.settings,
            resolve=lambda name, choose: serve_target(name, ns, choose),
        )

    def _dispatch(self, args: argparse.Namespace) -> Any:
        show = self._progress(args.quiet)
        ok = False
        try:
            result = verbs.VERBS[args.verb](self, args, show)
            ok = True
            return result
        finally:
            if isinstance(show, CellProgress):
                show.done(ok)


