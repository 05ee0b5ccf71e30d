"""A schedule as a Kubernetes CronJob: papermill in the pinned image, on the same cron.

The manifest (``batch/v1`` CronJob) runs the notebook the image carries with papermill from
the image's tool environment, its parameters given as YAML, in the schedule's time zone
(``spec.timeZone``). The policies map to what the CronJob controller offers:

- overlap ``skip``: ``concurrencyPolicy: Forbid`` and a short ``startingDeadlineSeconds``, so a
  tick that finds the previous run going is dropped;
- overlap ``queue``: ``Forbid`` with a deadline of an hour: the controller starts the waiting
  tick once the previous run ends, within that hour;
- missed ``latest``: the controller starts the latest missed tick once when it comes back,
  within the deadline; missed ``skip``: the short deadline drops it.

Kubernetes cron has no seconds field: a six-field schedule cannot be exported. The manifest is
checked with kubernetes-validate (strict) before it is written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from .. import labels
from ..deploy.k8s_validate import validate_manifest
from .cron import ScheduleError, parse
from .store import Schedule

TOOL_PYTHON = "/opt/containerize/tool/bin/python"
WORKDIR = "/home/jovyan/work"
SHORT_DEADLINE = 120
QUEUE_DEADLINE = 3600
MAX_NAME = 52  # a CronJob's name leaves room for the Job and Pod suffixes


def name_for(sched: Schedule) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", Path(sched.definition.target).stem.lower()).strip("-")
    stem = re.sub(r"^[^a-z]+", "", stem) or "notebook"
    return f"{stem[: MAX_NAME - len(sched.id) - 1].rstrip('-')}-{sched.id}"


def check_exportable(cron: str, timezone: str) -> None:
    """One line when a schedule could not be a CronJob (before anything is added)."""
    if parse(cron, timezone).has_seconds:
        raise ScheduleError(f"the cron expression {cron!r} has a seconds field, which a "
                            "Kubernetes CronJob cannot express",
                            hint="use five fields 'minute hour day month weekday' to export")


def manifest(sched: Schedule, notebook_in_image: str | None = None) -> dict[str, Any]:
    d = sched.definition
    check_exportable(d.cron, d.timezone)
    image = d.image or d.image_id
    if not image:
        raise ScheduleError(f"schedule {sched.id} builds the newest image at each tick; a "
                            "CronJob needs one image", hint="add the schedule with --image "
                                                            "REGISTRY/NAME@sha256:... to export")
    rel = notebook_in_image or d.image_notebook or Path(d.target).name
    path = str(PurePosixPath(WORKDIR) / rel)
    command = [TOOL_PYTHON, "-m", "papermill", path, "/tmp/out.ipynb", "-k", "python3",
               "--log-output", "--no-progress-bar", "--cwd", str(PurePosixPath(path).parent)]
    if d.parameters:
        command += ["-y", json.dumps(d.parameters, sort_keys=True)]
    deadline = QUEUE_DEADLINE if (d.overlap == "queue" or d.missed == "latest") \
        else SHORT_DEADLINE
    meta_labels = {"app.kubernetes.io/managed-by": "jupyter-containerize",
                   "jupyter-containerize/schedule": sched.id}
    container: dict[str, Any] = {"name": "notebook", "image": image, "command": command,
                                 "workingDir": WORKDIR}
    if d.timeout:
        active = int(d.timeout)
    else:
        active = None
    job_spec: dict[str, Any] = {"backoffLimit": 0, "template": {
        "metadata": {"labels": meta_labels},
        "spec": {"restartPolicy": "Never", "containers": [container]}}}
    if active:
        job_spec["activeDeadlineSeconds"] = max(1, active)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name_for(sched), "labels": meta_labels,
                     "annotations": {labels.NOTEBOOK: Path(d.target).name,
                                     "jupyter-containerize/image-id": d.image_id or ""}},
        "spec": {
            "schedule": " ".join(parse(d.cron, d.timezone).fields),
            "timeZone": d.timezone,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": deadline,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": meta_labels}, "spec": job_spec},
        },
    }


def export(sched: Schedule, folder: str | Path, notebook_in_image: str | None = None) -> Path:
    """Write ``<folder>/cronjob-<name>.yaml`` once the manifest validates; returns its path."""
    doc = manifest(sched, notebook_in_image)
    errors = validate_manifest(doc)
    if errors:
        raise ScheduleError(f"the CronJob for schedule {sched.id} does not validate: "
                            f"{errors[0]}", hint="report this: the export should never "
                                                 "write an invalid manifest")
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"cronjob-{doc['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    except OSError as exc:
        raise ScheduleError(f"cannot write the CronJob to {out}: {exc.strerror or exc}",
                            hint="give a folder you can write to") from None
    return path
