"""Cron expressions and time zones: when a schedule's ticks fall.

An expression has five fields (minute hour day month weekday, as cron writes them) or six,
with seconds first (``*/10 * * * * *``); ``@hourly``, ``@daily``, ``@weekly``, ``@monthly`` and
``@yearly`` stand for their five-field forms. Ticks are computed in the schedule's time zone
(an IANA name read with :mod:`zoneinfo`), so ``0 9 * * *`` in ``Europe/Paris`` is 09:00 there
in winter and in summer; a five-field tick at a fixed time that a daylight-saving change skips
runs once in the hour after, one it repeats runs once. Every time given back is UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from ..errors import ContainerizeError

UTC = timezone.utc
ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
           "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
           "@annually": "0 0 1 1 *"}
CRON_HINT = ("five fields 'minute hour day month weekday' (e.g. '0 6 * * 1-5'), six with "
             "seconds first, or @hourly/@daily/@weekly/@monthly")


class ScheduleError(ContainerizeError):
    """A schedule that cannot be made, found or run as asked."""


@dataclass(frozen=True)
class Cron:
    """A checked expression in a time zone."""

    expression: str
    timezone: str = "UTC"

    @property
    def fields(self) -> list[str]:
        return ALIASES.get(self.expression.strip().lower(), self.expression).split()

    @property
    def has_seconds(self) -> bool:
        return len(self.fields) == 6

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after ``moment`` (an aware time), in UTC."""
        local = moment.astimezone(self.zone)
        try:
            tick = next(CronSim(" ".join(self.fields), local))
        except StopIteration:
            raise ScheduleError(f"the cron expression {self.expression!r} never fires",
                                hint=CRON_HINT) from None
        return tick.astimezone(UTC)

    def between(self, start: datetime, end: datetime, limit: int = 100000) -> list[datetime]:
        """Ticks in ``(start, end]`` (UTC), at most ``limit`` of the latest."""
        ticks: list[datetime] = []
        moment = start
        while True:
            moment = self.next_after(moment)
            if moment > end:
                return ticks
            ticks.append(moment)
            if len(ticks) > limit:
                del ticks[0]

    def latest_at_or_before(self, end: datetime) -> datetime | None:
        """The last tick at or before ``end`` (None when there was none in the last 50 years)."""
        local = (end + timedelta(seconds=1)).astimezone(self.zone).replace(microsecond=0)
        try:
            tick = next(CronSim(" ".join(self.fields), local, reverse=True))
        except StopIteration:
            return None
        tick = tick.astimezone(UTC)
        return tick if tick <= end else None


def parse(expression: str, tz: str | None = None) -> Cron:
    """``expression`` in ``tz`` (default UTC), checked; one-line :class:`ScheduleError`."""
    text = " ".join(str(expression or "").split())
    if not text:
        raise ScheduleError("the cron expression is empty", hint=CRON_HINT)
    zone_name = (tz or "UTC").strip() or "UTC"
    cron = Cron(text, zone_name)
    if len(cron.fields) not in (5, 6):
        raise ScheduleError(f"the cron expression {text!r} has {len(cron.fields)} fields, "
                            "not 5 or 6", hint=CRON_HINT)
    try:
        ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"{zone_name!r} is not a time zone",
                            hint="give an IANA name, e.g. UTC, Europe/Paris, "
                                 "America/New_York") from None
    try:
        CronSim(" ".join(cron.fields), datetime.now(UTC))
    except CronSimError as exc:
        raise ScheduleError(f"the cron expression {text!r} is not valid: {exc}",
                            hint=CRON_HINT) from None
    cron.next_after(datetime.now(UTC))  # one that never fires is refused too
    return cron
