"""Places: country codes, time zones and great-circle distance."""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Sequence
from functools import lru_cache

import pycountry

from domain.errors import Collector

EARTH_RADIUS_KM = 6371.0088


@lru_cache(maxsize=512)
def is_country(code: str) -> bool:
    """ISO 3166-1 alpha-2, upper case."""
    return len(code) == 2 and code.isupper() and pycountry.countries.get(alpha_2=code) is not None


@lru_cache(maxsize=512)
def is_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def check_coordinates(
    errors: Collector, latitude: float | None, longitude: float | None, at: Sequence[str | int]
) -> None:
    """WGS84 degrees, where given. JSON cannot carry NaN or infinity, but it carries
    1e308, and a distance to it is nonsense rather than an error."""
    if latitude is not None and not -90 <= latitude <= 90:
        errors.add("INVALID_COORDINATES", "latitude must be between -90 and 90", [*at, "latitude"])
    if longitude is not None and not -180 <= longitude <= 180:
        errors.add(
            "INVALID_COORDINATES", "longitude must be between -180 and 180", [*at, "longitude"]
        )


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))
