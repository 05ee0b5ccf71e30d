"""When a schedule's ticks fall: cron fields, seconds, aliases, and time zones across
daylight-saving changes; bad expressions and zones are one line each."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from jupyter_containerize.core.schedule.cron import ScheduleError, parse

UTC = timezone.utc


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_a_daily_tick_keeps_its_local_time_across_daylight_saving() -> None:
    paris = parse("0 9 * * *", "Europe/Paris")
    # winter: UTC+1, summer (from 2026-03-29): UTC+2
    assert paris.next_after(at(2026, 3, 28, 12)) == at(2026, 3, 29, 7)
    assert paris.next_after(at(2026, 3, 27, 12)) == at(2026, 3, 28, 8)
    assert paris.next_after(at(2026, 10, 25, 12)) == at(2026, 10, 26, 8)


def test_a_tick_in_the_skipped_hour_runs_once_in_the_hour_after() -> None:
    new_york = parse("30 2 * * *", "America/New_York")  # 02:30 does not exist on 2026-03-08
    ticks = new_york.between(at(2026, 3, 7, 12), at(2026, 3, 9, 12))
    assert ticks == [at(2026, 3, 8, 7, 0), at(2026, 3, 9, 6, 30)]


def test_a_tick_in_the_repeated_hour_runs_once() -> None:
    ticks = parse("30 1 * * *", "America/New_York").between(at(2026, 11, 1, 0),
                                                             at(2026, 11, 2, 0))
    assert len(ticks) == 1


def test_seconds_aliases_and_the_latest_tick() -> None:
    every2 = parse("*/2 * * * * *")
    assert every2.has_seconds
    assert every2.between(at(2026, 1, 1, 0, 0, 0), at(2026, 1, 1, 0, 0, 9)) == [
        at(2026, 1, 1, 0, 0, s) for s in (2, 4, 6, 8)]
    assert every2.latest_at_or_before(at(2026, 1, 1, 0, 0, 5)) == at(2026, 1, 1, 0, 0, 4)
    assert every2.latest_at_or_before(at(2026, 1, 1, 0, 0, 4)) == at(2026, 1, 1, 0, 0, 4)
    daily = parse("@daily")
    assert not daily.has_seconds and daily.fields == ["0", "0", "*", "*", "*"]
    assert daily.next_after(at(2026, 1, 1, 0, 0, 0)) == at(2026, 1, 2)
    assert parse("0 6 * * 1-5").next_after(at(2026, 1, 3)) == at(2026, 1, 5, 6)  # a Monday


@pytest.mark.hostile
@pytest.mark.parametrize(("expr", "tz", "wanted"), [
    ("61 * * * *", "UTC", "is not valid: Bad minute"),
    ("* * *", "UTC", "has 3 fields, not 5 or 6"),
    ("", "UTC", "the cron expression is empty"),
    ("0 0 30 2 *", "UTC", "is not valid"),
    ("0 9 * * MON", "Mars/Olympus", "'Mars/Olympus' is not a time zone"),
    ("0 9 * * MON", "../../etc/passwd", "is not a time zone"),
])
def test_bad_expressions_and_zones_are_one_line(expr: str, tz: str, wanted: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse(expr, tz)
    assert wanted in caught.value.message and caught.value.hint
    assert "\n" not in caught.value.one_line()
