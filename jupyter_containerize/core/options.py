"""Every verb and its options, declared once.

The CLI's parser (and so the magic's), the server's request checks and the Lab forms (through
the server's ``options`` route) are made from :data:`VERBS`; the keyword signatures of
:mod:`~jupyter_containerize.core.api` spell the same names, which a unit test holds them to.

An option whose ``trait`` names a :class:`~jupyter_containerize.core.config.ContainerizeConfig`
trait takes its default from the configuration the front end loaded, so a setting written in
``jupyter_containerize_config.py`` is the default of every front end alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .optionspec import Option, OptionError, Verb

DEFAULT_PLATFORM = "linux/amd64"
LOCK_MODES = ("full", "imported")
BUILDERS = ("auto", "layers", "classic")
REPORTS = ("html",)
# what `freeze --export` writes: the formats of core.attest.export (a test keeps them equal)
EXPORT_FORMATS = ("pylock", "requirements", "cyclonedx")
KEY_KINDS = ("ed25519", "ecdsa-p256")

# --- options several verbs share -------------------------------------------------------------

NOTEBOOK = Option("notebook", positional=True, help="the notebook (.ipynb)")
PYTHON = Option("python", rest=True, metavar="PATH",
                help="Python executable of the environment to freeze (default: the notebook's "
                     "kernel)")
BASE = Option("base", rest=True, trait="base_image",
              help="base image (default: one for the kernel's Python)")
LOCK = Option("lock", rest=True, default="full", choices=LOCK_MODES, trait="lock_mode",
              help="lock every installed distribution (full) or only what the notebook imports")
PLATFORM = Option("platform", default=DEFAULT_PLATFORM, trait="platform",
                  help="target platform of the image")
KERNEL_ID = Option("kernel_id", rest=True, cli=False,
                   help="a live kernel whose environment is captured instead of the kernelspec's")
JSON = Option("json", kind="bool", default=False, help="print the result as JSON")
ENVIRONMENT = (PYTHON, BASE, LOCK, PLATFORM)

VERBS: dict[str, Verb] = {}


def _add(*verbs: Verb) -> None:
    for v in verbs:
        VERBS[v.name] = v


_add(
    Verb("capture", "print the environment of a Python as JSON", (
        Option("notebook", positional=True, optional_positional=True,
               help="the notebook whose kernel's Python is read"),
        Option("python", metavar="PATH", help="Python executable to read"),
    )),
    Verb("freeze", "capture + lock beside the notebook", (
        NOTEBOOK, *ENVIRONMENT,
        Option("dockerfile", metavar="DIR", help="also write Dockerfile + context (eject)"),
        Option("requirements", kind="bool", default=False,
               help="also write a requirements view"),
        Option("check", kind="bool", default=False,
               help="write nothing; exit 1 when the kernel no longer matches the lock"),
        Option("export", choices=EXPORT_FORMATS, metavar="FORMAT",
               help="also write the lock as FORMAT beside it (pylock: PEP 751 pylock.toml, "
                    "requirements: hashed requirements.txt, cyclonedx: CycloneDX SBOM)"),
    ), notebook=True),
    Verb("build", "freeze + build the notebook image", (
        NOTEBOOK, *ENVIRONMENT, KERNEL_ID,
        Option("locked", kind="bool", default=False,
               help="build from the committed lock as is"),
        Option("tag", rest=True, help="image reference to tag the image with"),
        Option("no_cache", kind="bool", default=False, rest=True,
               help="build every layer again"),
        Option("builder", default="auto", choices=BUILDERS, trait="builder",
               help="layers made outside the engine, or the engine's classic builder"),
        Option("dry_run", kind="bool", default=False, rest=True,
               help="say what would be built, build nothing"),
        Option("push", rest=True, metavar="REF",
               help="also push the image to REF (HOST/NAME:TAG); with no engine answering, "
                    "build and push without one"),
        Option("strip_outputs", kind="bool", default=False, rest=True,
               help="leave the notebook's saved outputs out of the image"),
        Option("allow_flagged_outputs", kind="bool", default=False, rest=True,
               help="build even when saved outputs look like secrets"),
        Option("author", help="the image's author label"),
    ), switch="allow_build", notebook=True),
    Verb("base", "base images", (
        Option("bootstrap", kind="bool", default=False,
               help="build one offline from Debian packages (mmdebstrap)"),
        Option("python", help="X.Y version or an interpreter path to carry in"),
        Option("force", kind="bool", default=False, help="bootstrap even when one exists"),
    )),
    Verb("doctor", "check engine, base images, CA/proxy and registry"),
    Verb("run", "run the notebook with papermill inside its image", (
        NOTEBOOK, *ENVIRONMENT, KERNEL_ID,
        Option("parameters", kind="object", short="-p", long="parameter", rest=True,
               metavar=("NAME", "VALUE"),
               help="a papermill parameter, typed as papermill types it"),
        Option("image", rest=True, help="run in this image instead of building one"),
        Option("output", help="executed notebook path"),
        Option("artifacts", help="folder for the files the run wrote"),
        Option("timeout", kind="number", rest=True, trait="run_timeout", metavar="SECONDS",
               help="stop the run after this many seconds"),
        Option("cpus", kind="number", rest=True, metavar="N",
               help="CPUs the run may use, e.g. 0.5 or 2"),
        Option("memory", rest=True, metavar="AMOUNT",
               help="memory limit: bytes, 512m, 2g, 1.5g"),
        Option("env", kind="list", default=(), metavar="NAME[=VALUE]",
               help="an environment variable for the run; repeatable"),
        Option("gpus", help="GPUs the run may use, e.g. all"),
        Option("data", kind="list", default=(), metavar="PATH[:IN_CONTAINER]",
               help="a data folder or file mounted read-only; repeatable"),
        Option("report", choices=REPORTS, help="also write a report"),
        Option("sweep", kind="bool", default=False, rest=True,
               help="one run per combination of the -p values, each given as V1,V2,..."),
        Option("zip", kind="bool", default=False, rest=True,
               help="with --sweep: the i-th values of every -p together, not every "
                    "combination"),
        Option("concurrency", kind="int", default=2, rest=True, metavar="N",
               help="with --sweep: runs at once"),
        Option("best", rest=True, metavar="METRIC[:min]",
               help="with --sweep: name the run with the highest (or :min lowest) metric"),
        JSON,
    ), switch="allow_build", notebook=True),
    Verb("runs", "list runs (CLI, magic, widget and server alike)", (
        Option("limit", kind="int", default=20, help="how many, newest first"),
        JSON,
    )),
    Verb("prune", "remove old run records, and images we built", (
        Option("runs", kind="bool", default=False, help="prune run records and their files"),
        Option("older_than", default="30d", help="age, e.g. 30d, 12h"),
        Option("images", kind="bool", default=False, help="prune images this project built"),
    )),
    Verb("serve", "serve a model in its notebook's environment", (
        Option("model", positional=True, optional_positional=True, rest=True, required=True,
               help="model file, a directory with predict.py, or run:RUN_ID[/ARTIFACT] (a "
                    "run's model)"),
        Option("notebook", help="notebook whose kernel environment the model needs"),
        Option("image", help="environment image to serve in, instead of building one"),
        *ENVIRONMENT, KERNEL_ID,
        Option("name", rest=True, help="deployment name (default: from the notebook or model)"),
        Option("port", help="host port, 1-65535 (default: a free one, kept)"),
        Option("host", rest=True, default="127.0.0.1",
               help="host address; 0.0.0.0 exposes it"),
        Option("model_name", help="V2 model name (default: the deployment name)"),
        Option("token", help="require Authorization: Bearer TOKEN on inference routes"),
        Option("skops_trust", kind="list", default=(), metavar="TYPE",
               help="a type a .skops model may load (its full dotted name); repeatable"),
        Option("replicas", kind="int", help="a Docker Swarm service of N replicas"),
        Option("rollback", kind="bool", default=False,
               help="return the swarm deployment --name to its previous model"),
        Option("check", kind="bool", default=False,
               help="test the SageMaker and V2 contracts against the deployment"),
        Option("export", metavar="DIR", help="also write Kubernetes manifests"),
        JSON,
    ), switch="allow_serve", notebook=True),
    Verb("stop", "stop and remove a deployment", (
        Option("name", positional=True, help="the deployment"),
    )),
    Verb("deployments", "list deployments and the model each serves now", (JSON,)),
    Verb("push", "push an image to the team registry; prints it pinned", (
        Option("image", positional=True, rest=True, required=True, help="the local image"),
        Option("registry", rest=True, trait="registry",
               help="HOST[:PORT][/NAMESPACE] (default: the configured one)"),
    ), switch="allow_push"),
    Verb("pull", "pull an image; prints it pinned by digest", (
        Option("ref", positional=True, rest=True, required=True, metavar="REFERENCE",
               help="the image in the registry"),
        Option("verify", kind="bool", default=False, rest=True, trait="require_signed",
               help="refuse an image without a signature by one of the trusted keys"),
    )),
    Verb("images", "the team's images, from the registry without pulling", (
        Option("registry", trait="registry",
               help="HOST[:PORT][/NAMESPACE] (default: the configured one; none: this "
                    "engine's images)"),
        JSON,
        Option("keep", metavar="REF", help="keep this local image: prune never removes it"),
        Option("unkeep", metavar="REF", help="stop keeping it"),
    )),
    Verb("login", "log in to a registry, as `docker login` does", (
        Option("registry", positional=True, metavar="HOST", help="the registry"),
        Option("username", short="-u", help="the user name"),
        Option("password_stdin", kind="bool", default=False,
               help="read the password from stdin"),
    )),
    Verb("kernel install", "install a kernelspec for an image", (
        Option("ref", positional=True, metavar="REFERENCE", help="the image"),
        Option("name", help="kernelspec name (default: from the image)"),
        Option("display_name", help="the name Jupyter shows"),
    )),
    Verb("kernel list", "list the kernelspecs `kernel install` made", (JSON,)),
    Verb("kernel remove", "remove one", (Option("name", positional=True, help="the kernelspec"),)),
    Verb("key create", "make a key pair that signs pushed images; prints the public key", (
        Option("kind", default="ed25519", choices=KEY_KINDS, help="the kind of key"),
        Option("folder", metavar="DIR",
               help="where to write signing.key and signing.pub (default: a folder of the "
                    "Jupyter data dir that only you can read)"),
    )),
)

_add(
    Verb("pipeline run", "run a pipeline file's notebooks in their images, in dependency order", (
        Option("file", positional=True, rest=True, required=True,
               help="the pipeline file (YAML)"),
        Option("resume", metavar="RUN", rest=True,
               help="run only what did not succeed in that pipeline run, reusing the rest"),
        Option("concurrency", kind="int", metavar="N", rest=True,
               help="steps at once (default: the file's concurrency, else 2)"),
        Option("swarm", kind="bool", default=False, rest=True,
               help="run each step as a replicated job on the Docker Swarm this engine "
                    "manages"),
        JSON,
    )),
    Verb("pipeline export", "write a pipeline as an Argo Workflow or a Kubeflow pipeline, "
                            "its images pushed and pinned by digest", (
        Option("file", positional=True, required=True, help="the pipeline file (YAML)"),
        Option("to", metavar="argo|kfp",
               help="argo: an Argo Workflow (YAML); kfp: a pipeline spec compiled by the KFP "
                    "SDK"),
        Option("registry", metavar="HOST[/NS]",
               help="push each step's image here; the document names them by digest"),
        Option("output", metavar="DIR",
               help="the folder to write the document to (default: the pipeline file's)"),
        JSON,
    )),
)

# verbs spelled in two words ("kernel install") are grouped under their first word
GROUPS = {"kernel": "kernelspecs whose kernel runs inside an image",
          "key": "keys that sign the images you push",
          "pipeline": "pipelines of notebooks, each step in its own frozen image"}

# the verbs a server runs as jobs, and which act on a notebook
JOB_VERBS = ("build", "run", "serve", "push", "pull", "pipeline run")


# schedules: notebooks run on cron ticks in the image frozen for them
SCHEDULE_ID = Option("schedule", positional=True, metavar="ID", help="the schedule's id")
_add(
    Verb("schedule add", "run the notebook (or a pipeline) on cron ticks in the images frozen "
                         "now", (
        Option("notebook", positional=True,
               help="the notebook (.ipynb), or a pipeline file (.yaml) whose steps are built "
                    "and pinned"),
        Option("cron", rest=True, required=True, metavar="EXPR",
               help="when: 'minute hour day month weekday', six fields with seconds first, "
                    "or @hourly/@daily/@weekly/@monthly"),
        Option("timezone", rest=True, default="UTC", metavar="TZ",
               help="the cron's time zone, an IANA name such as Europe/Paris"),
        Option("image", rest=True, help="pin this image instead of building the notebook's"),
        Option("newest", kind="bool", default=False, rest=True,
               help="pin nothing: build (or reuse) the newest image at each tick"),
        Option("python", rest=True, metavar="PATH",
               help="Python executable of the environment to freeze (default: the "
                    "notebook's kernel)"),
        Option("parameters", kind="object", short="-p", long="parameter", rest=True,
               metavar=("NAME", "VALUE"), help="a papermill parameter of every tick's run"),
        Option("timeout", kind="number", rest=True, trait="run_timeout", metavar="SECONDS",
               help="stop a tick's run after this many seconds"),
        Option("overlap", rest=True, default="skip", choices=("skip", "queue"),
               trait="schedule_overlap",
               help="a tick while the previous run still runs: skip it, or queue it"),
        Option("missed", rest=True, default="latest", choices=("latest", "skip"),
               trait="schedule_missed",
               help="ticks missed while no scheduler ran: run the latest once, or skip them"),
        Option("webhook", rest=True, metavar="URL",
               help="POST a JSON summary here when a tick's run ends (retried)"),
        Option("notify", rest=True, default="always", choices=("always", "failure", "success"),
               help="which runs the webhook hears of"),
        Option("webhook_token_env", rest=True, metavar="NAME",
               help="environment variable whose value is sent as the webhook's bearer token"),
        Option("export", metavar="DIR", help="also write a Kubernetes CronJob manifest"),
        JSON,
    ), switch="allow_build", notebook=True),
    Verb("schedule list", "list schedules, their next tick and last run", (JSON,)),
    Verb("schedule pause", "stop a schedule's ticks until resumed", (SCHEDULE_ID,)),
    Verb("schedule resume", "tick again, from now on", (SCHEDULE_ID,)),
    Verb("schedule remove", "remove a schedule (its runs stay)", (SCHEDULE_ID,)),
    Verb("schedule export", "write a schedule as a Kubernetes CronJob manifest", (
        SCHEDULE_ID, Option("folder", positional=True, metavar="DIR", help="where to write"),
    )),
    Verb("schedule run", "run the schedules in the foreground (a host without a server)", (
        Option("stop_after", kind="number", metavar="SECONDS",
               help="stop after this many seconds (default: until Ctrl-C)"),
    )),
)
GROUPS["schedule"] = "notebooks run on cron ticks in the image frozen for them"


def verb(name: str) -> Verb:
    try:
        return VERBS[name]
    except KeyError:
        raise OptionError(f"unknown verb {name!r}", f"use one of: {', '.join(VERBS)}") from None


def check_request(kind: Any, options: Any) -> dict[str, Any]:
    """The options of a server job request, checked against the table before any job starts.

    Raises :class:`OptionError` naming the option and what it must be."""
    if kind not in JOB_VERBS:
        raise OptionError(f"unknown job kind {kind!r}", f"use one of: {', '.join(JOB_VERBS)}")
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise OptionError("'options' must be a JSON object", 'e.g. {"lock": "imported"}')
    spec = VERBS[kind]
    allowed = {o.name: o for o in spec.rest_options()}
    checked: dict[str, Any] = {}
    for name, value in options.items():
        if name not in allowed:
            raise OptionError(f"{kind} takes no option {name!r}",
                              f"{kind} takes: {', '.join(sorted(allowed))}")
        checked[name] = allowed[name].check(kind, value)
    for opt in allowed.values():
        if opt.required and not checked.get(opt.name):
            raise OptionError(f"{kind} needs the option {opt.name!r}",
                              f"add {opt.name!r} to 'options'")
    return checked


def table(config: Any = None) -> dict[str, Any]:
    """What the server's ``options`` route answers: every job verb and its request options,
    with the defaults this configuration gives."""
    return {"verbs": {name: VERBS[name].to_json(config) for name in JOB_VERBS}}
