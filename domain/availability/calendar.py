"""When things happen: ship-by, deliver-by and ready-for-pickup times.

Rules (documented so a storefront can explain its promise):
- A location works Monday to Friday. An order received before its cut-off hour (in the
  location's own time zone) on a working day counts as received that day; otherwise on
  the next working day. Handling takes the location's `handlingDays` working days;
  the parcel leaves at the cut-off hour of the day it is ready.
- Transit depends on the great-circle distance and the service level, in working days:
  STANDARD 1 day up to 250 km, 2 up to 700 km, 3 beyond; EXPRESS 1 day up to 1,000 km,
  2 beyond. Without destination coordinates the longest band applies. Deliveries are
  promised by 20:00 local time.
- Click and collect: a store with no handling days has the order ready 2 hours after a
  receipt before its cut-off, else at 10:00 on the next working day; with handling
  days, at 10:00 after them; in any case within the store's weekly opening hours (its
  next opening if that time falls outside them), when they are known.
"""

from __future__ import annotations

import datetime as dt
import itertools
from functools import lru_cache
from zoneinfo import ZoneInfo

STANDARD_BANDS = ((250.0, 1), (700.0, 2), (float("inf"), 3))
EXPRESS_BANDS = ((1000.0, 1), (float("inf"), 2))
DELIVERY_HOUR = 20
PICKUP_OPENING_HOUR = 10
PICKUP_PREPARATION = dt.timedelta(hours=2)


def iso(when: dt.datetime | None) -> str | None:
    """A time as the API writes it, in explanations as in DateTime fields: the instant in
    UTC with a Z (2026-11-26T19:00:00Z), whatever zone it was computed in. (Local times,
    such as opening hours, are given with their location's time zone.)"""
    if when is None:
        return None
    if when.tzinfo is None:  # stored times are UTC
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
MAX_RANGES_PER_DAY = 4
# (weekday 0-6, opens, closes) in minutes after local midnight.
Hours = tuple[tuple[int, int, int], ...]


def _minutes(text: str) -> int | None:
    """Minutes after midnight of "HH:MM" (24:00 allowed, as a closing time)."""
    if len(text) != 5 or text[2] != ":" or not (text[:2] + text[3:]).isdigit():
        return None
    hours, minutes = int(text[:2]), int(text[3:])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        return None
    return hours * 60 + minutes


def parse_hours(
    ranges: list[dict[str, str]] | None,
) -> tuple[Hours | None, list[tuple[int, str, str]]]:
    """Opening hours as stored or given ([{"day", "opens", "closes"}]), and the problems
    as (index, field, message): unknown day, HH:MM, opens before closes, no overlap, at
    most four ranges a day."""
    if ranges is None:
        return None, []
    problems: list[tuple[int, str, str]] = []
    parsed: list[tuple[int, int, int]] = []
    for i, r in enumerate(ranges):
        day = r.get("day", "")
        opens, closes = _minutes(r.get("opens", "")), _minutes(r.get("closes", ""))
        if day not in WEEKDAYS:
            problems.append((i, "day", f"unknown day {day!r}"))
        if opens is None or opens >= 24 * 60:
            problems.append((i, "opens", "opens is a local time HH:MM, 00:00 to 23:59"))
        if closes is None:
            problems.append((i, "closes", "closes is a local time HH:MM, 00:01 to 24:00"))
        if opens is not None and closes is not None and opens >= closes:
            problems.append((i, "closes", "a range closes after it opens (same day)"))
        if not problems or problems[-1][0] != i:
            parsed.append((WEEKDAYS.index(day), opens or 0, closes or 0))
    parsed.sort()
    for (d1, _, c1), (d2, o2, _) in itertools.pairwise(parsed):
        if d1 == d2 and o2 < c1:
            problems.append((len(ranges) - 1, "opens", f"two ranges overlap on {WEEKDAYS[d1]}"))
            break
    for weekday in range(7):
        if sum(1 for d, _, _ in parsed if d == weekday) > MAX_RANGES_PER_DAY:
            problems.append((len(ranges) - 1, "day", f"at most {MAX_RANGES_PER_DAY} ranges a day"))
            break
    return tuple(parsed), problems


def next_open(when: dt.datetime, hours: Hours | None, timezone: str) -> dt.datetime:
    """The first moment at or after `when` that the location is open (by its weekly hours
    in its own time zone); `when` itself if its hours are not known or it never opens."""
    if not hours:
        return when
    tz = zone(timezone)
    local = when.astimezone(tz)
    for offset in range(8):
        day = local.date() + dt.timedelta(days=offset)
        for weekday, opens, closes in hours:
            if weekday != day.weekday():
                continue
            start = dt.datetime.combine(day, dt.time(0), tz) + dt.timedelta(minutes=opens)
            end = dt.datetime.combine(day, dt.time(0), tz) + dt.timedelta(minutes=closes)
            if offset == 0 and start <= local < end:
                return local
            if local < start:
                return start
    return when


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5


@lru_cache(maxsize=4096)  # a plan asks the same few (day, days) for every location
def add_working_days(day: dt.date, days: int) -> dt.date:
    while not _is_working_day(day):
        day += dt.timedelta(days=1)
    for _ in range(days):
        day += dt.timedelta(days=1)
        while not _is_working_day(day):
            day += dt.timedelta(days=1)
    return day


def receipt_day(now: dt.datetime, timezone: str, cutoff_hour: int) -> dt.date:
    """The working day an order placed `now` counts as received at the location."""
    local = now.astimezone(zone(timezone))
    day = local.date()
    if not _is_working_day(day) or local.hour >= cutoff_hour:
        day += dt.timedelta(days=1)
    return add_working_days(day, 0)


def ship_by(now: dt.datetime, timezone: str, cutoff_hour: int, handling_days: int) -> dt.datetime:
    day = add_working_days(receipt_day(now, timezone, cutoff_hour), handling_days)
    return _at_hour(day, cutoff_hour, timezone)


@lru_cache(maxsize=4096)
def _at_hour(day: dt.date, hour: int, timezone: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), zone(timezone))


def transit_days(distance_km: float | None, service_level: str) -> int:
    bands = EXPRESS_BANDS if service_level == "EXPRESS" else STANDARD_BANDS
    if distance_km is None:
        return bands[-1][1]
    for limit, days in bands:
        if distance_km <= limit:
            return days
    return bands[-1][1]


def deliver_by(shipped: dt.datetime, distance_km: float | None, service_level: str) -> dt.datetime:
    local = shipped.astimezone(shipped.tzinfo)
    day = add_working_days(local.date(), transit_days(distance_km, service_level))
    return dt.datetime.combine(day, dt.time(DELIVERY_HOUR), local.tzinfo)


def pickup_ready_by(
    now: dt.datetime,
    timezone: str,
    cutoff_hour: int,
    handling_days: int,
    hours: Hours | None = None,
) -> dt.datetime:
    """When a click-and-collect order can be collected: within the store's opening hours
    (the next opening, if the preparation ends after hours)."""
    tz = zone(timezone)
    local = now.astimezone(tz)
    if handling_days == 0 and _is_working_day(local.date()) and local.hour < cutoff_hour:
        return next_open((local + PICKUP_PREPARATION).astimezone(tz), hours, timezone)
    day = add_working_days(receipt_day(now, timezone, cutoff_hour), max(handling_days, 0))
    return next_open(dt.datetime.combine(day, dt.time(PICKUP_OPENING_HOUR), tz), hours, timezone)
