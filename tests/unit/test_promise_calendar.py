"""Promise calendar: receipt day, ship-by, transit, deliver-by and pickup-ready times.

Hand-computed expectations for the rules in domain/availability/calendar.py's module
docstring. Reference week: Mon 2026-06-08 .. Sun 2026-06-14 (Paris on CEST, UTC+2;
London on BST, UTC+1; New York on EDT, UTC-4). Europe/Paris changes to summer time on
Sun 2026-03-29 and back on Sun 2026-10-25.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from domain.availability.calendar import (
    add_working_days,
    deliver_by,
    pickup_ready_by,
    receipt_day,
    ship_by,
    transit_days,
)

PARIS = "Europe/Paris"
LONDON = "Europe/London"
NEW_YORK = "America/New_York"
UTC = dt.UTC


def at(zone: str, year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_reference_dates_are_the_weekdays_the_tests_assume() -> None:
    assert dt.date(2026, 6, 8).strftime("%A") == "Monday"
    assert dt.date(2026, 6, 9).strftime("%A") == "Tuesday"
    assert dt.date(2026, 6, 12).strftime("%A") == "Friday"
    assert dt.date(2026, 3, 29).strftime("%A") == "Sunday"
    assert dt.date(2026, 10, 25).strftime("%A") == "Sunday"


# --- working days ----------------------------------------------------------------------


def test_add_zero_working_days_to_a_weekday_is_the_same_day() -> None:
    assert add_working_days(dt.date(2026, 6, 9), 0) == dt.date(2026, 6, 9)


def test_add_zero_working_days_to_a_weekend_day_is_the_next_monday() -> None:
    assert add_working_days(dt.date(2026, 6, 13), 0) == dt.date(2026, 6, 15)
    assert add_working_days(dt.date(2026, 6, 14), 0) == dt.date(2026, 6, 15)


def test_add_working_days_skips_the_weekend() -> None:
    # Friday + 1 working day = Monday; Thursday + 3 = Tuesday
    assert add_working_days(dt.date(2026, 6, 12), 1) == dt.date(2026, 6, 15)
    assert add_working_days(dt.date(2026, 6, 11), 3) == dt.date(2026, 6, 16)


# --- cut-off and receipt day -----------------------------------------------------------


def test_order_one_minute_before_cutoff_ships_after_handling_from_today() -> None:
    # Tuesday 13:59 Paris, cut-off 14, handling 1 -> received Tuesday, ships Wed 14:00
    now = at(PARIS, 2026, 6, 9, 13, 59)
    assert receipt_day(now, PARIS, 14) == dt.date(2026, 6, 9)
    assert ship_by(now, PARIS, 14, 1) == at(PARIS, 2026, 6, 10, 14)


def test_order_at_the_cutoff_hour_counts_as_received_the_next_working_day() -> None:
    # Tuesday 14:00 Paris, cut-off 14, handling 1 -> received Wednesday, ships Thu 14:00
    now = at(PARIS, 2026, 6, 9, 14, 0)
    assert receipt_day(now, PARIS, 14) == dt.date(2026, 6, 10)
    assert ship_by(now, PARIS, 14, 1) == at(PARIS, 2026, 6, 11, 14)


def test_cutoff_is_judged_in_local_time_when_now_is_given_in_utc() -> None:
    # 11:59 UTC = 13:59 Paris (before 14); 12:00 UTC = 14:00 Paris (at the cut-off)
    assert ship_by(utc(2026, 6, 9, 11, 59), PARIS, 14, 1) == at(PARIS, 2026, 6, 10, 14)
    assert ship_by(utc(2026, 6, 9, 12, 0), PARIS, 14, 1) == at(PARIS, 2026, 6, 11, 14)


def test_same_utc_instant_gives_different_receipt_days_in_paris_and_london() -> None:
    # Tuesday 12:30 UTC: 14:30 in Paris (after cut-off 14), 13:30 in London (before)
    now = utc(2026, 6, 9, 12, 30)
    assert receipt_day(now, PARIS, 14) == dt.date(2026, 6, 10)
    assert receipt_day(now, LONDON, 14) == dt.date(2026, 6, 9)
    assert receipt_day(now, NEW_YORK, 14) == dt.date(2026, 6, 9)  # 08:30 in New York


def test_same_utc_instant_friday_night_is_monday_in_paris_but_friday_in_new_york() -> None:
    # Friday 22:30 UTC: Saturday 00:30 in Paris, Friday 18:30 in New York (cut-off 19)
    now = utc(2026, 6, 12, 22, 30)
    assert receipt_day(now, PARIS, 19) == dt.date(2026, 6, 15)
    assert receipt_day(now, NEW_YORK, 19) == dt.date(2026, 6, 12)
    assert ship_by(now, PARIS, 19, 0) == at(PARIS, 2026, 6, 15, 19)
    assert ship_by(now, NEW_YORK, 19, 0) == at(NEW_YORK, 2026, 6, 12, 19)


def test_friday_after_cutoff_is_received_next_monday() -> None:
    now = at(PARIS, 2026, 6, 12, 15)
    assert receipt_day(now, PARIS, 14) == dt.date(2026, 6, 15)
    # handling 1 from Monday -> ships Tuesday
    assert ship_by(now, PARIS, 14, 1) == at(PARIS, 2026, 6, 16, 14)


def test_friday_before_cutoff_with_one_handling_day_ships_monday() -> None:
    now = at(PARIS, 2026, 6, 12, 9)
    assert ship_by(now, PARIS, 14, 1) == at(PARIS, 2026, 6, 15, 14)


@pytest.mark.parametrize(
    "now",
    [
        at(PARIS, 2026, 6, 13, 0, 1),  # Saturday just after midnight
        at(PARIS, 2026, 6, 13, 10),  # Saturday morning, before the cut-off hour
        at(PARIS, 2026, 6, 14, 9),  # Sunday morning
        at(PARIS, 2026, 6, 14, 23, 59),  # Sunday night
    ],
)
def test_weekend_orders_are_received_on_monday(now: dt.datetime) -> None:
    assert receipt_day(now, PARIS, 14) == dt.date(2026, 6, 15)
    assert ship_by(now, PARIS, 14, 0) == at(PARIS, 2026, 6, 15, 14)
    assert ship_by(now, PARIS, 14, 2) == at(PARIS, 2026, 6, 17, 14)


def test_store_with_no_handling_days_ships_the_same_day_before_cutoff() -> None:
    assert ship_by(at(PARIS, 2026, 6, 9, 10), PARIS, 14, 0) == at(PARIS, 2026, 6, 9, 14)


def test_store_with_no_handling_days_ships_the_next_day_after_cutoff() -> None:
    assert ship_by(at(PARIS, 2026, 6, 9, 16), PARIS, 14, 0) == at(PARIS, 2026, 6, 10, 14)


def test_ship_by_is_timezone_aware_and_in_the_locations_zone() -> None:
    shipped = ship_by(utc(2026, 6, 9, 9), NEW_YORK, 14, 0)
    assert shipped.tzinfo is not None
    assert str(shipped.tzinfo) == NEW_YORK
    # 09:00 UTC = 05:00 New York; ships 14:00 EDT = 18:00 UTC the same day
    assert shipped.utcoffset() == dt.timedelta(hours=-4)
    assert shipped.astimezone(UTC) == utc(2026, 6, 9, 18)


# --- transit bands ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("distance_km", "days"),
    [
        (0.0, 1),
        (100.0, 1),
        (250.0, 1),
        (250.1, 2),
        (500.0, 2),
        (700.0, 2),
        (700.1, 3),
        (900.0, 3),
        (5_000.0, 3),
    ],
)
def test_standard_transit_bands(distance_km: float, days: int) -> None:
    assert transit_days(distance_km, "STANDARD") == days


@pytest.mark.parametrize(
    ("distance_km", "days"),
    [(0.0, 1), (100.0, 1), (900.0, 1), (1_000.0, 1), (1_000.1, 2), (5_000.0, 2)],
)
def test_express_transit_bands(distance_km: float, days: int) -> None:
    assert transit_days(distance_km, "EXPRESS") == days


def test_without_a_distance_the_longest_band_applies() -> None:
    assert transit_days(None, "STANDARD") == 3
    assert transit_days(None, "EXPRESS") == 2


# --- deliver by ------------------------------------------------------------------------


def test_deliver_by_is_twenty_hundred_local_after_transit_days() -> None:
    # shipped Tuesday 14:00 Paris, 100 km STANDARD (1 day) -> Wednesday 20:00 Paris
    assert deliver_by(at(PARIS, 2026, 6, 9, 14), 100.0, "STANDARD") == at(PARIS, 2026, 6, 10, 20)


def test_deliver_by_skips_the_weekend() -> None:
    # shipped Thursday, 500 km STANDARD (2 days): Friday, then Monday
    assert deliver_by(at(PARIS, 2026, 6, 11, 14), 500.0, "STANDARD") == at(PARIS, 2026, 6, 15, 20)
    # shipped Friday, 100 km (1 day): Monday
    assert deliver_by(at(PARIS, 2026, 6, 12, 14), 100.0, "STANDARD") == at(PARIS, 2026, 6, 15, 20)


def test_deliver_by_far_standard_versus_express() -> None:
    shipped = at(PARIS, 2026, 6, 9, 14)  # Tuesday
    assert deliver_by(shipped, 900.0, "STANDARD") == at(PARIS, 2026, 6, 12, 20)  # +3: Friday
    assert deliver_by(shipped, 900.0, "EXPRESS") == at(PARIS, 2026, 6, 10, 20)  # +1: Wednesday


def test_deliver_by_without_a_destination_uses_the_longest_band() -> None:
    shipped = at(PARIS, 2026, 6, 9, 14)  # Tuesday
    assert deliver_by(shipped, None, "STANDARD") == at(PARIS, 2026, 6, 12, 20)  # +3
    assert deliver_by(shipped, None, "EXPRESS") == at(PARIS, 2026, 6, 11, 20)  # +2


def test_deliver_by_keeps_the_zone_of_the_shipping_location() -> None:
    shipped = ship_by(utc(2026, 6, 9, 9), NEW_YORK, 14, 0)  # Tuesday 14:00 New York
    delivered = deliver_by(shipped, 100.0, "STANDARD")
    assert str(delivered.tzinfo) == NEW_YORK
    assert delivered == at(NEW_YORK, 2026, 6, 10, 20)
    assert delivered.astimezone(UTC) == utc(2026, 6, 11, 0)


# --- pickup ----------------------------------------------------------------------------


def test_pickup_at_a_handling_zero_store_is_ready_two_hours_after_receipt() -> None:
    ready = pickup_ready_by(at(PARIS, 2026, 6, 9, 11), PARIS, 18, 0)
    assert ready == at(PARIS, 2026, 6, 9, 13)
    assert str(ready.tzinfo) == PARIS


def test_pickup_ready_time_is_in_the_stores_zone_when_now_is_utc() -> None:
    # 09:00 UTC = 11:00 Paris -> ready 13:00 Paris
    ready = pickup_ready_by(utc(2026, 6, 9, 9), PARIS, 18, 0)
    assert str(ready.tzinfo) == PARIS
    assert ready == at(PARIS, 2026, 6, 9, 13)
    assert (ready.hour, ready.minute) == (13, 0)


def test_pickup_after_cutoff_is_ready_at_ten_the_next_working_day() -> None:
    assert pickup_ready_by(at(PARIS, 2026, 6, 9, 18, 30), PARIS, 18, 0) == at(
        PARIS, 2026, 6, 10, 10
    )


def test_pickup_friday_after_cutoff_is_ready_monday_at_ten() -> None:
    assert pickup_ready_by(at(PARIS, 2026, 6, 12, 19), PARIS, 18, 0) == at(PARIS, 2026, 6, 15, 10)


def test_pickup_ordered_on_a_weekend_is_ready_monday_at_ten() -> None:
    assert pickup_ready_by(at(PARIS, 2026, 6, 13, 11), PARIS, 18, 0) == at(PARIS, 2026, 6, 15, 10)
    assert pickup_ready_by(at(PARIS, 2026, 6, 14, 8), PARIS, 18, 0) == at(PARIS, 2026, 6, 15, 10)


def test_pickup_with_handling_days_is_ready_at_ten_after_them() -> None:
    # received Tuesday (before cut-off), 1 handling day -> Wednesday 10:00
    assert pickup_ready_by(at(PARIS, 2026, 6, 9, 11), PARIS, 18, 1) == at(PARIS, 2026, 6, 10, 10)
    # received Monday (Friday after cut-off), 2 handling days -> Wednesday 10:00
    assert pickup_ready_by(at(PARIS, 2026, 6, 12, 19), PARIS, 18, 2) == at(PARIS, 2026, 6, 17, 10)


# --- daylight saving time (Europe/Paris) -----------------------------------------------


def test_ship_by_across_the_spring_change_is_at_local_cutoff_in_summer_time() -> None:
    # Friday 2026-03-27 15:00 CET (after cut-off) -> received Monday 30 March (CEST),
    # handling 1 -> ships Tuesday 31 March 14:00 CEST = 12:00 UTC
    shipped = ship_by(at(PARIS, 2026, 3, 27, 15), PARIS, 14, 1)
    assert shipped == at(PARIS, 2026, 3, 31, 14)
    assert (shipped.hour, shipped.utcoffset()) == (14, dt.timedelta(hours=2))
    assert shipped.astimezone(UTC) == utc(2026, 3, 31, 12)


def test_ship_by_before_the_spring_change_is_in_winter_time() -> None:
    # Thursday 26 March 12:00 CET, handling 1 -> Friday 27 March 14:00 CET = 13:00 UTC
    shipped = ship_by(at(PARIS, 2026, 3, 26, 12), PARIS, 14, 1)
    assert shipped.utcoffset() == dt.timedelta(hours=1)
    assert shipped.astimezone(UTC) == utc(2026, 3, 27, 13)


def test_cutoff_follows_the_local_clock_across_the_spring_change() -> None:
    # 12:30 UTC is 13:30 CET on Friday 27 March (before cut-off 14) but 14:30 CEST on
    # Tuesday 31 March (after it)
    assert receipt_day(utc(2026, 3, 27, 12, 30), PARIS, 14) == dt.date(2026, 3, 27)
    assert receipt_day(utc(2026, 3, 31, 12, 30), PARIS, 14) == dt.date(2026, 4, 1)


def test_ship_by_across_the_autumn_change_is_at_local_cutoff_in_winter_time() -> None:
    # Friday 2026-10-23 15:00 CEST (after cut-off) -> received Monday 26 October (CET),
    # handling 0 -> ships Monday 14:00 CET = 13:00 UTC
    shipped = ship_by(at(PARIS, 2026, 10, 23, 15), PARIS, 14, 0)
    assert shipped == at(PARIS, 2026, 10, 26, 14)
    assert (shipped.hour, shipped.utcoffset()) == (14, dt.timedelta(hours=1))
    assert shipped.astimezone(UTC) == utc(2026, 10, 26, 13)


def test_deliver_by_across_the_autumn_change_is_twenty_hundred_winter_time() -> None:
    # shipped Friday 23 October 14:00 CEST, 1 day -> Monday 26 October 20:00 CET
    delivered = deliver_by(at(PARIS, 2026, 10, 23, 14), 100.0, "STANDARD")
    assert delivered == at(PARIS, 2026, 10, 26, 20)
    assert (delivered.hour, delivered.utcoffset()) == (20, dt.timedelta(hours=1))
    assert delivered.astimezone(UTC) == utc(2026, 10, 26, 19)


def test_pickup_ready_across_the_spring_change_is_ten_local_time() -> None:
    # Saturday 28 March -> Monday 30 March 10:00 CEST = 08:00 UTC
    ready = pickup_ready_by(at(PARIS, 2026, 3, 28, 11), PARIS, 18, 0)
    assert (ready.hour, ready.utcoffset()) == (10, dt.timedelta(hours=2))
    assert ready.astimezone(UTC) == utc(2026, 3, 30, 8)
