"""Places: country codes, time zones and great-circle distance."""

from __future__ import annotations

import math
import zoneinfo
from functools import lru_cache

import pycountry

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


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))
