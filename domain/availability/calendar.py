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
  days, at 10:00 after them.
"""

from __future__ import annotations

import datetime as dt
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
    now: dt.datetime, timezone: str, cutoff_hour: int, handling_days: int
) -> dt.datetime:
    tz = zone(timezone)
    local = now.astimezone(tz)
    if handling_days == 0 and _is_working_day(local.date()) and local.hour < cutoff_hour:
        return (local + PICKUP_PREPARATION).astimezone(tz)
    day = add_working_days(receipt_day(now, timezone, cutoff_hour), max(handling_days, 0))
    return dt.datetime.combine(day, dt.time(PICKUP_OPENING_HOUR), tz)
