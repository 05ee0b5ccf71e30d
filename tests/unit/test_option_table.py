"""The table of verbs and options drives the front ends: the API's keywords are the table's
option names, the CLI's parser is made from it with every flag it always had, and the
configuration gives the defaults (an explicit flag still wins)."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jupyter_containerize.cli.app import parser
from jupyter_containerize.core import api
from jupyter_containerize.core.config import ContainerizeConfig, load_config
from jupyter_containerize.core.options import DEFAULT_PLATFORM, VERBS

# options only the CLI's printing uses
PRESENTATION = {"json"}
# options a server resolves before the call (a live kernel's id becomes ``spec``)
SERVER_ONLY = {"kernel_id"}
# options that choose which api function a front end calls (run --sweep: api.sweep)
DISPATCH = {"sweep"}
# what a front end passes besides the table's options
NOT_OPTIONS = {"progress", "config", "spec", "cancel", "store", "extra_labels", "out"}

# verb -> the api functions that implement it, each with the table options it takes
# (an option is spelled as the table spells it unless given as "table name=api name")
API: dict[str, list[tuple[Callable[..., Any], set[str]]]] = {
    "capture": [(api.capture, {"notebook", "python"})],
    "freeze": [(api.freeze, {"notebook", "python", "base", "lock", "platform", "dockerfile",
                             "requirements", "check", "export"})],
    "build": [(api.build, {"notebook", "python", "base", "lock", "platform", "locked", "tag",
                           "no_cache", "builder", "dry_run", "push", "strip_outputs",
                           "allow_flagged_outputs", "author"})],
    "base": [(api.base, {"bootstrap", "python", "force"})],
    "doctor": [(api.doctor, set())],
    "run": [(api.run, {"notebook", "python", "base", "lock", "platform", "parameters", "image",
                       "output", "artifacts", "timeout", "cpus", "memory", "env", "gpus",
                       "data", "report"}),
            (api.sweep, {"notebook", "python", "base", "lock", "platform", "parameters",
                         "image", "timeout", "cpus", "memory", "env", "gpus", "data", "zip",
                         "concurrency", "best"})],
    "runs": [(api.runs, {"limit"})],
    "prune": [(api.prune, {"runs", "older_than", "images"})],
    "serve": [(api.serve, {"model", "notebook", "image", "python", "base", "lock", "platform",
                           "name", "port", "host", "model_name", "token", "skops_trust",
                           "replicas", "rollback", "check", "export"})],
    "stop": [(api.stop, {"name"})],
    "deployments": [(api.deployments, set())],
    "push": [(api.push, {"image", "registry"})],
    "pull": [(api.pull, {"ref", "verify"})],
    "images": [(api.images, {"registry"}), (api.keep, {"keep=ref"}),
               (api.unkeep, {"unkeep=ref"})],
    # the CLI reads the password (from stdin with --password-stdin) and passes it
    "login": [(api.login, {"registry", "username", "password_stdin=password"})],
    "kernel install": [(api.kernel_install, {"ref", "name", "display_name"})],
    "kernel list": [(api.kernel_list, set())],
    "kernel remove": [(api.kernel_remove, {"name"})],
    "key create": [(api.key_create, {"kind", "folder"})],
    "pipeline run": [(api.pipeline_run, {"file", "resume", "concurrency", "swarm"})],
    "pipeline export": [(api.pipeline_export, {"file", "to", "registry", "output"})],
    "schedule add": [(api.schedule_add, {
        "notebook", "cron", "timezone", "image", "newest", "python", "parameters", "timeout",
        "overlap", "missed", "webhook", "notify", "webhook_token_env", "export"})],
    "schedule list": [(api.schedule_list, set())],
    "schedule pause": [(api.schedule_pause, {"schedule"})],
    "schedule resume": [(api.schedule_resume, {"schedule"})],
    "schedule remove": [(api.schedule_remove, {"schedule"})],
    "schedule export": [(api.schedule_export, {"schedule", "folder"})],
    "schedule run": [(api.schedule_run, {"stop_after"})],
}


def test_every_verb_of_the_table_has_its_api_functions() -> None:
    assert set(API) == set(VERBS)


@pytest.mark.parametrize("verb", sorted(API))
def test_the_api_takes_exactly_the_options_of_the_table(verb: str) -> None:
    table = set(VERBS[verb].names()) - PRESENTATION - SERVER_ONLY - DISPATCH
    covered: set[str] = set()
    for fn, spelled in API[verb]:
        pairs = dict(s.split("=") if "=" in s else (s, s) for s in spelled)
        params = set(inspect.signature(fn).parameters) - NOT_OPTIONS
        assert params == set(pairs.values()), (fn.__name__, params ^ set(pairs.values()))
        covered |= set(pairs)
    assert covered == table, covered ^ table


@pytest.mark.parametrize("verb", sorted(v for v in API if any(
    o.trait for o in VERBS[v].options)))
def test_options_backed_by_the_configuration_default_to_none_in_the_api(verb: str) -> None:
    """None means "the table's default from the configuration", so no API default hides the
    configured one."""
    for fn, _ in API[verb]:
        params = inspect.signature(fn).parameters
        for opt in VERBS[verb].options:
            if opt.trait and opt.name in params:
                assert params[opt.name].default is None, (fn.__name__, opt.name)


# every flag the command line had before it was made from the table
FLAGS = {
    "capture": {"--python"},
    "freeze": {"--python", "--base", "--lock", "--platform", "--dockerfile", "--requirements",
               "--check", "--export"},
    "build": {"--python", "--base", "--lock", "--platform", "--locked", "--tag", "--no-cache",
              "--builder", "--dry-run", "--push", "--strip-outputs",
              "--allow-flagged-outputs", "--author"},
    "base": {"--bootstrap", "--python", "--force"},
    "run": {"--python", "--base", "--lock", "--platform", "-p", "--parameter", "--image",
            "--output", "--artifacts", "--timeout", "--cpus", "--memory", "--env", "--gpus",
            "--data", "--report", "--sweep", "--zip", "--concurrency", "--best", "--json"},
    "runs": {"--limit", "--json"},
    "prune": {"--runs", "--older-than", "--images"},
    "serve": {"--notebook", "--image", "--python", "--base", "--lock", "--platform", "--name",
              "--port", "--host", "--model-name", "--token", "--skops-trust", "--replicas",
              "--rollback", "--check", "--export", "--json"},
    "deployments": {"--json"},
    "push": {"--registry"},
    "images": {"--registry", "--json", "--keep", "--unkeep"},
    "login": {"-u", "--username", "--password-stdin"},
}


def _subparsers(p: Any) -> dict[str, Any]:
    return next(a for a in p._actions if a.dest in ("verb", "kernel_verb")).choices


@pytest.mark.parametrize("verb", sorted(FLAGS))
def test_every_flag_the_cli_had_is_still_there(verb: str) -> None:
    sub = _subparsers(parser())[verb]
    flags = {s for a in sub._actions for s in a.option_strings} - {"-h", "--help"}
    assert flags == FLAGS[verb]


def test_parsed_names_are_the_table_names() -> None:
    p = parser()
    args = p.parse_args(["run", "nb.ipynb", "-p", "n", "3", "--parameter", "m", "x",
                         "--env", "A=1", "--data", "d", "--timeout", "9"])
    assert args.parameters == [["n", "3"], ["m", "x"]]
    assert (args.env, args.data, args.timeout) == (["A=1"], ["d"], "9")
    assert p.parse_args(["pull", "host/x:1"]).ref == "host/x:1"
    kernel = p.parse_args(["kernel", "install", "host/x:1", "--display-name", "X"])
    assert (kernel.verb, kernel.kernel_verb, kernel.ref, kernel.display_name) == (
        "kernel", "install", "host/x:1", "X")
    assert p.parse_args(["serve"]).model is None
    assert p.parse_args(["runs"]).limit == 20
    assert p.parse_args(["serve", "--replicas", "3"]).replicas == 3
    with pytest.raises(SystemExit) as exc:
        p.parse_args(["build", "nb.ipynb", "--lock", "slim"])
    assert exc.value.code == 2


def test_without_configuration_the_defaults_are_the_tables() -> None:
    args = parser(ContainerizeConfig()).parse_args(["build", "nb.ipynb"])
    assert (args.lock, args.platform, args.builder, args.base) == (
        "full", DEFAULT_PLATFORM, "auto", None)
    assert parser(ContainerizeConfig()).parse_args(["run", "nb.ipynb"]).timeout == 3600.0
    assert parser(ContainerizeConfig()).parse_args(["push", "img"]).registry is None


def test_configured_defaults_reach_every_verb_and_a_flag_still_wins() -> None:
    cfg = ContainerizeConfig(lock_mode="imported", builder="classic", platform="linux/arm64",
                             run_timeout=42.0, base_image="python:3.11-slim",
                             registry="127.0.0.1:5000/team")
    p = parser(cfg)
    build = p.parse_args(["build", "nb.ipynb"])
    assert (build.lock, build.builder, build.platform, build.base) == (
        "imported", "classic", "linux/arm64", "python:3.11-slim")
    run = p.parse_args(["run", "nb.ipynb"])
    assert (run.timeout, run.lock, run.base) == (42.0, "imported", "python:3.11-slim")
    assert p.parse_args(["freeze", "nb.ipynb"]).lock == "imported"
    assert p.parse_args(["serve", "m.joblib"]).platform == "linux/arm64"
    assert p.parse_args(["push", "img"]).registry == "127.0.0.1:5000/team"
    assert p.parse_args(["images"]).registry == "127.0.0.1:5000/team"
    explicit = p.parse_args(["build", "nb.ipynb", "--lock", "full", "--builder", "layers",
                             "--platform", DEFAULT_PLATFORM])
    assert (explicit.lock, explicit.builder, explicit.platform) == (
        "full", "layers", DEFAULT_PLATFORM)
    assert p.parse_args(["run", "nb.ipynb", "--timeout", "5"]).timeout == "5"


def test_the_config_file_of_the_jupyter_config_dir_gives_the_cli_its_defaults(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "jupyter_containerize_config.json").write_text(json.dumps(
        {"ContainerizeConfig": {"run_timeout": 120, "builder": "classic"}}))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    args = parser(load_config()).parse_args(["run", "nb.ipynb"])
    assert args.timeout == 120.0
    assert parser(load_config()).parse_args(["build", "nb.ipynb"]).builder == "classic"


# the flags of the two-word verbs under `schedule`
SCHEDULE_FLAGS = {
    "add": {"--cron", "--timezone", "--image", "--newest", "--python", "-p", "--parameter",
            "--timeout", "--overlap", "--missed", "--webhook", "--notify",
            "--webhook-token-env", "--export", "--json"},
    "list": {"--json"}, "pause": set(), "resume": set(), "remove": set(), "export": set(),
    "run": {"--stop-after"},
}


@pytest.mark.parametrize("leaf", sorted(SCHEDULE_FLAGS))
def test_the_schedule_verbs_flags(leaf: str) -> None:
    group = _subparsers(parser())["schedule"]
    subs = next(a for a in group._actions if a.dest == "schedule_verb").choices
    flags = {s for a in subs[leaf]._actions for s in a.option_strings} - {"-h", "--help"}
    assert flags == SCHEDULE_FLAGS[leaf]
    args = parser(ContainerizeConfig(schedule_overlap="queue")).parse_args(
        ["schedule", "add", "nb.ipynb", "--cron", "0 6 * * *"])
    assert (args.overlap, args.missed, args.timezone) == ("queue", "latest", "UTC")


# the flags of `pipeline run`
PIPELINE_FLAGS = {"run": {"--resume", "--concurrency", "--swarm", "--json"},
                  "export": {"--to", "--registry", "--output", "--json"}}


@pytest.mark.parametrize("leaf", sorted(PIPELINE_FLAGS))
def test_the_pipeline_verbs_flags(leaf: str) -> None:
    group = _subparsers(parser())["pipeline"]
    subs = next(a for a in group._actions if a.dest == "pipeline_verb").choices
    flags = {s for a in subs[leaf]._actions for s in a.option_strings} - {"-h", "--help"}
    assert flags == PIPELINE_FLAGS[leaf]
    args = parser().parse_args(["pipeline", "run", "p.yaml", "--resume", "abc",
                                "--concurrency", "3"])
    assert (args.verb, args.pipeline_verb, args.file, args.resume, args.concurrency) == (
        "pipeline", "run", "p.yaml", "abc", 3)
    assert parser().parse_args(["pipeline", "run", "p.yaml"]).concurrency is None
    assert parser().parse_args(["pipeline", "run", "p.yaml", "--swarm"]).swarm is True
