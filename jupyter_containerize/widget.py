"""The ipywidgets panel of ``%containerize``: environment, build, run, serve, push, team images.

Everything goes through ``core.api``, with the configuration the magic holds (its defaults
are the table's, as the CLI's are). Long verbs run in a background thread so the kernel stays
responsive; their progress moves a bar, their log lines go to an Output widget, and an error
is one line with its hint.
"""

from __future__ import annotations

import ast
import html
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from .core import api
from .core.config import ContainerizeConfig
from .core.errors import ContainerizeError
from .core.models import Deployment, EnvironmentSpec
from .core.progress import event_text

Resolve = Callable[[str, str], tuple[str, Any, str]]


class ProgressView(widgets.VBox):
    """A progress bar and the current phase; callable with core.progress.Event objects."""

    def __init__(self, **kwargs: Any) -> None:
        self.phase = widgets.Label("")
        self.bar = widgets.IntProgress(value=0, min=0, max=1, layout={"width": "60%"})
        super().__init__([widgets.HBox([self.bar, self.phase])], **kwargs)

    def __call__(self, event: Any) -> None:
        if event.kind == "phase":
            self.phase.value = event.message
            self.bar.bar_style = "info"
        elif event.kind == "progress" and event.total:
            self.bar.max = max(int(event.total), 1)
            self.bar.value = min(int(event.current or 0), self.bar.max)
            self.phase.value = f"{event.phase} {event.current}/{event.total}"

    def done(self, ok: bool, text: str = "") -> None:
        self.bar.value = self.bar.max
        self.bar.bar_style = "success" if ok else "danger"
        self.phase.value = text or ("done" if ok else "failed")


def environment_html(spec: EnvironmentSpec) -> str:
    """Python, distributions, imported modules and warnings of a capture, as HTML."""
    names = sorted(api.user_imports(spec))  # not the kernel's own machinery
    imported = ", ".join(names[:20]) + (" …" if len(names) > 20 else "")
    lines = [
        f"<b>Python</b> {html.escape(spec.python_version)} ({html.escape(spec.python_executable)})",
        f"<b>Packages</b> {len(spec.distributions)} distributions",
        f"<b>Imported</b> {html.escape(imported) or 'nothing yet'}",
    ]
    lines += [f"<b>warning</b> {html.escape(w)}" for w in spec.warnings]
    return "<br>".join(lines)


def parse_value(text: str) -> Any:
    """A Run form entry: a Python literal when it is one, else the string as typed."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


class ContainerizePanel(widgets.VBox):
    """Build, run, serve and push the notebook's environment from inside its kernel."""

    def __init__(self, notebook: str | Path | None, *, capture: Callable[[], EnvironmentSpec],
                 resolve: Resolve | None = None, config: ContainerizeConfig | None = None
                 ) -> None:
        self.capture = capture
        self.resolve = resolve
        self.config = config
        self.thread: threading.Thread | None = None
        self.last_result: Any = None
        self.last_error: str = ""
        self.image: str | None = None
        self._defaults: dict[str, str] = {}
        self.notebook = widgets.Text(str(notebook or ""), description="Notebook",
                                     placeholder="path of the saved notebook",
                                     layout={"width": "80%"})
        self.environment = widgets.HTML()
        self.build_button = widgets.Button(description="Build", icon="cube")
        self.run_button = widgets.Button(description="Run", icon="play")
        self.serve_button = widgets.Button(description="Serve", icon="server")
        self.push_button = widgets.Button(description="Push", icon="upload")
        self.parameters = widgets.VBox()
        self.serve_target = widgets.Text(placeholder="artifact path or object name")
        self.push_target = widgets.Text(placeholder="registry host[:port][/namespace]")
        self.progress = ProgressView()
        self.status = widgets.HTML()
        self.result = widgets.HTML()
        self.logs = widgets.Output(layout={"max_height": "240px", "overflow": "auto"})
        self.team_images = widgets.Select(options=[], rows=6, layout={"width": "80%"})
        super().__init__(self._layout())
        self._wire()
        self.refresh()

    def _layout(self) -> list[widgets.Widget]:
        parts: list[widgets.Widget] = [
            widgets.HTML("<b>Containerize</b>"), self.notebook, self.environment,
            widgets.HBox([self.build_button]),
            widgets.HTML("<b>Run</b> (parameters cell)"), self.parameters, self.run_button,
            widgets.HBox([self.serve_target, self.serve_button]),
            widgets.HBox([self.push_target, self.push_button]),
            self.progress, self.status, self.result, self.logs,
        ]
        refresh = widgets.Button(description="Refresh", icon="refresh")
        refresh.on_click(lambda _b: self.start("images", self._images))
        return [*parts, widgets.HTML("<b>Team images</b>"), self.team_images, refresh]

    def _wire(self) -> None:
        self.build_button.on_click(lambda _b: self.start("build", self._build))
        self.run_button.on_click(lambda _b: self.start("run", self._run))
        self.serve_button.on_click(lambda _b: self.start("serve", self._serve))
        self.push_button.on_click(lambda _b: self.start("push", self._push))
        self.notebook.observe(lambda _c: self._parameters_form(), names="value")

    @property
    def buttons(self) -> list[widgets.Button]:
        return [self.build_button, self.run_button, self.serve_button, self.push_button]

    def refresh(self) -> None:
        """Re-read the environment and the notebook's parameters cell."""
        try:
            self.environment.value = environment_html(self.capture())
        except Exception as exc:  # a capture problem must not hide the panel
            self.environment.value = f"<b>capture failed</b> {html.escape(str(exc))}"
        self._parameters_form()

    def _parameters_form(self) -> None:
        values: dict[str, str] = {}
        path = self.notebook.value.strip()
        if path and Path(path).is_file():
            try:
                values = api.notebook_parameters(path)
            except ContainerizeError as exc:
                self._error(exc.one_line())
        self.parameters.children = [
            widgets.Text(value=text, description=name, placeholder=text)
            for name, text in values.items()
        ]
        self._defaults = {w.description: w.value for w in self.parameters.children}

    # --- background work -------------------------------------------------------------
    def start(self, verb: str, work: Callable[[], Any]) -> None:
        """Run ``work`` in a thread; buttons are off until it ends."""
        if self.thread is not None and self.thread.is_alive():
            self._error("another action is still running (wait for it to finish)")
            return
        for button in self.buttons:
            button.disabled = True
        self.status.value = f"{html.escape(verb)}…"
        self.last_error = ""
        self.thread = threading.Thread(target=self._work, args=(verb, work),
                                       name=f"containerize-{verb}", daemon=True)
        self.thread.start()

    def wait(self, timeout: float | None = None) -> Any:
        """Wait for the running action; returns its result (None after an error)."""
        if self.thread is not None:
            self.thread.join(timeout)
        return self.last_result

    def _work(self, verb: str, work: Callable[[], Any]) -> None:
        try:
            self.last_result = work()
            self.progress.done(True, f"{verb} done")
            self.status.value = ""
        except ContainerizeError as exc:
            self._error(exc.one_line())
        except Exception as exc:  # shown as one line; the panel stays usable
            self._error(f"{type(exc).__name__}: {exc}")
        finally:
            for button in self.buttons:
                button.disabled = False

    def _error(self, line: str) -> None:
        self.last_result = None
        self.last_error = line
        self.progress.done(False)
        self.status.value = f"<span style='color:#c00'>error: {html.escape(line)}</span>"

    def _show(self, event: Any) -> None:
        self.progress(event)
        text = event_text(event, bars=False)  # the bar is drawn by self.progress
        if text is not None:
            self.logs.append_stdout(text[0] + "\n")

    def _path(self) -> Path:
        text = self.notebook.value.strip()
        if not text:
            raise ContainerizeError("the panel does not know the notebook",
                                    hint="type the saved notebook's path in the Notebook box")
        return Path(text)

    # --- verbs ---------------------------------------------------------------------------
    def _build(self) -> str:
        res = api.build(self._path(), spec=self.capture(), progress=self._show,
                        config=self.config)
        self.image = res.reference
        what = "reused" if res.cached else f"built ({res.builder})"
        self.result.value = (f"<b>Image</b> <code>{html.escape(res.reference)}</code> "
                             f"{what}, Python {html.escape(res.python)}")
        return res.reference

    def _run(self) -> Any:
        params = {w.description: parse_value(w.value) for w in self.parameters.children
                  if w.value != self._defaults.get(w.description)}
        image = self._build()
        record = api.run(self._path(), parameters=params, image=image, progress=self._show,
                         config=self.config)
        self.result.value = f"<pre>{html.escape(record.summary())}</pre>"
        return record

    def _serve(self) -> Any:
        name = self.serve_target.value.strip()
        if not name:
            raise ContainerizeError("nothing to serve", hint="type an artifact path or a name")
        kind, target, note = self.resolve(name, "") if self.resolve else ("file", name, "")
        if note:
            self.logs.append_stdout(note + "\n")
        image = self._build()
        deployment: Deployment
        if kind == "object":
            deployment = api.serve_object(target, self._path(), name=api.deployment_name(name),
                                          image=image, progress=self._show, config=self.config)
        else:
            deployment = api.serve(target, notebook=self._path(), image=image,
                                   progress=self._show, config=self.config)
        url = html.escape(deployment.url)
        self.result.value = (f"<b>Deployment</b> {html.escape(deployment.name)}: "
                             f"<a href='{url}' target='_blank'>{url}</a>")
        return deployment

    def _push(self) -> str:
        image = self.image or self._build()
        target = self.push_target.value.strip() or None
        pinned = api.push(image, registry=target, progress=self._show, config=self.config)
        self.result.value = f"<b>Pushed</b> <code>{html.escape(pinned)}</code>"
        return pinned

    def _images(self) -> list[str]:
        rows = api.images(registry=self.push_target.value.strip() or None, config=self.config)
        names = [str(row.get("reference", row)) for row in rows]
        self.team_images.options = names
        return names

