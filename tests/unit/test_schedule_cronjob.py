"""A schedule exported as a Kubernetes CronJob: papermill in the pinned image, on the same cron
and time zone, the policies mapped, valid against the Kubernetes schemas (strict); what a
CronJob cannot say is one line and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from jupyter_containerize.core.deploy.k8s_validate import validate_manifests
from jupyter_containerize.core.schedule import cronjob
from jupyter_containerize.core.schedule.cron import ScheduleError
from jupyter_containerize.core.schedule.store import Definition, Schedule

IMAGE = "127.0.0.1:5000/team/train@sha256:" + "a" * 64


def _schedule(**changes: object) -> Schedule:
    definition = Definition(target="/home/me/Train Model.ipynb", cron="0 6 * * 1-5",
                            timezone="Europe/Paris", image=IMAGE, image_id="sha256:" + "b" * 64,
                            image_notebook="models/Train Model.ipynb",
                            parameters={"alpha": 0.5, "name": "x"}, timeout=600)
    for key, value in changes.items():
        setattr(definition, key, value)
    return Schedule("0123456789ab", "active", definition, {})


def test_the_cronjob_runs_papermill_in_the_pinned_image_and_validates(tmp_path: Path) -> None:
    path = cronjob.export(_schedule(), tmp_path / "k8s")
    assert validate_manifests([path]) == []
    doc = yaml.safe_load(path.read_text())
    assert doc["kind"] == "CronJob" and doc["apiVersion"] == "batch/v1"
    assert doc["metadata"]["name"] == "train-model-0123456789ab"
    spec = doc["spec"]
    assert (spec["schedule"], spec["timeZone"]) == ("0 6 * * 1-5", "Europe/Paris")
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 600 and job["backoffLimit"] == 0
    container = job["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE
    assert container["command"][:4] == [cronjob.TOOL_PYTHON, "-m", "papermill",
                                        "/home/jovyan/work/models/Train Model.ipynb"]
    assert container["command"][-2:] == ["-y", '{"alpha": 0.5, "name": "x"}']


def test_the_policies_choose_the_controllers_deadline() -> None:
    skip = cronjob.manifest(_schedule(overlap="skip", missed="skip"))["spec"]
    queue = cronjob.manifest(_schedule(overlap="queue", missed="skip"))["spec"]
    latest = cronjob.manifest(_schedule(overlap="skip", missed="latest"))["spec"]
    assert skip["startingDeadlineSeconds"] == cronjob.SHORT_DEADLINE
    assert queue["startingDeadlineSeconds"] == latest["startingDeadlineSeconds"] == \
        cronjob.QUEUE_DEADLINE


@pytest.mark.hostile
@pytest.mark.parametrize(("changes", "wanted"), [
    ({"cron": "*/10 * * * * *"}, "has a seconds field"),
    ({"newest": True, "image": "", "image_id": ""}, "builds the newest image at each tick"),
])
def test_what_a_cronjob_cannot_say_is_one_line(tmp_path: Path, changes: dict[str, object],
                                               wanted: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        cronjob.export(_schedule(**changes), tmp_path / "k8s")
    assert wanted in caught.value.message and caught.value.hint
    assert not (tmp_path / "k8s").exists()
