"""The webhook of a schedule against real local HTTP receivers: the JSON body arrives, a
receiver that fails first is retried until it answers, one that refuses a body is not retried,
a silent or refusing URL is one line at `schedule add`, and nothing of it is fatal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from webhook_receiver import WebhookReceiver

from jupyter_containerize.core.schedule import webhook
from jupyter_containerize.core.schedule.cron import ScheduleError


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[WebhookReceiver]:
    made = WebhookReceiver(getattr(request, "param", []), head=405)
    yield made
    made.close()


BODY = {"schedule": "s1", "run": "r1", "status": "failed", "notebook": "/x/nb.ipynb",
        "started": "2026-01-01T00:00:00.000Z", "ended": "2026-01-01T00:00:05.000Z",
        "output": "/x/nb.out.ipynb"}


@pytest.mark.parametrize("receiver", [[]], indirect=True)
def test_the_json_body_arrives_with_the_token_from_the_environment(
        receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "tok-123")
    sent = webhook.send(receiver.url, BODY, token_env="HOOK_TOKEN")
    assert sent == {"delivered": True, "attempts": 1, "status": 200, "error": ""}
    assert receiver.bodies == [BODY]
    assert receiver.headers[0]["Authorization"] == "Bearer tok-123"
    assert receiver.headers[0]["Content-Type"] == "application/json"


@pytest.mark.hostile
@pytest.mark.parametrize("receiver", [[500, 503]], indirect=True)
def test_a_receiver_that_fails_first_is_retried_until_it_answers(receiver: WebhookReceiver) -> None:
    waits: list[float] = []
    sent = webhook.send(receiver.url, BODY, backoff=0.01, sleep=waits.append)
    assert sent["delivered"] and sent["attempts"] == 3 and sent["status"] == 200
    assert receiver.bodies == [BODY, BODY, BODY]
    assert waits == [0.01, 0.02]  # doubling waits between attempts


@pytest.mark.hostile
@pytest.mark.parametrize("receiver", [[500] * 10], indirect=True)
def test_a_receiver_that_keeps_failing_is_logged_never_fatal(receiver: WebhookReceiver) -> None:
    said: list[str] = []
    sent = webhook.send(receiver.url, BODY, attempts=3, backoff=0.0, log=said.append)
    assert sent == {"delivered": False, "attempts": 3, "status": 500, "error": "HTTP 500"}
    assert len(said) == 1 and "not delivered after 3 attempt(s): HTTP 500" in said[0]


@pytest.mark.hostile
@pytest.mark.parametrize("receiver", [[400]], indirect=True)
def test_a_refused_body_is_not_sent_again(receiver: WebhookReceiver) -> None:
    sent = webhook.send(receiver.url, BODY, backoff=0.0, log=lambda _: None)
    assert sent["attempts"] == 1 and not sent["delivered"] and len(receiver.bodies) == 1


@pytest.mark.hostile
def test_a_refusing_url_is_retried_then_given_up() -> None:
    said: list[str] = []
    sent = webhook.send("http://127.0.0.1:9/hook", BODY, attempts=2, backoff=0.0,
                        log=said.append)
    assert sent["error"] == "connection refused" and sent["attempts"] == 2
    assert said and "not delivered" in said[0]


@pytest.mark.parametrize("receiver", [[]], indirect=True)
def test_a_receiver_that_answers_passes_the_check(receiver: WebhookReceiver) -> None:
    assert webhook.check_url(receiver.url) == receiver.url  # a 405 to HEAD still answers
    assert receiver.bodies == []  # the check sends no event


@pytest.mark.hostile
@pytest.mark.parametrize(("url", "wanted"), [
    ("http://127.0.0.1:9/hook", "does not answer: connection refused"),
    ("ftp://example.org/hook", "is not an http(s) URL"),
    ("hooks.example.org", "is not an http(s) URL"),
])
def test_a_bad_or_refusing_url_is_one_line(url: str, wanted: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        webhook.check_url(url)
    assert wanted in caught.value.message and caught.value.hint
    assert "\n" not in caught.value.one_line()
