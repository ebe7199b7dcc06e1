"""Places: country codes, time zones, great-circle distance, coordinates and where a
postal code probably is."""

from __future__ import annotations

import csv
import math
import unicodedata
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

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


# ---------- coordinates ----------


def coordinate_problems(
    latitude: float | None, longitude: float | None, *, required: bool = False
) -> list[tuple[str, str]]:
    """(field name, message) for each problem with a pair of WGS84 coordinates: both or
    neither, finite, latitude -90..90, longitude -180..180."""
    if latitude is None and longitude is None:
        return [("latitude", "coordinates are required")] if required else []
    if latitude is None or longitude is None:
        missing = "latitude" if latitude is None else "longitude"
        return [(missing, "give both latitude and longitude, or neither")]
    problems = []
    if not math.isfinite(latitude) or not -90 <= latitude <= 90:
        problems.append(("latitude", "latitude must be a finite number between -90 and 90"))
    if not math.isfinite(longitude) or not -180 <= longitude <= 180:
        problems.append(("longitude", "longitude must be a finite number between -180 and 180"))
    return problems


# ---------- approximate places ----------


@dataclass(frozen=True, slots=True)
class Approximation:
    """Where a destination without coordinates probably is: the main town of its postal
    area (or its town, by name)."""

    latitude: float
    longitude: float
    source: str  # "postalCode" or "city"
    area: str  # the town whose coordinates stand for the area

    def explain(self) -> dict[str, object]:
        return {"from": self.source, "area": self.area}


def _plain(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words = text.replace("-", " ").replace("'", " ").replace("/", " ").casefold().split()
    # "Paris 11e", "Lyon 2eme", "Marseille Cedex 01": the town is the rest.
    return " ".join(
        w for w in words if w != "cedex" and not w.rstrip("emr").isdigit() and not w.isdigit()
    )


@lru_cache(maxsize=1)
def _areas() -> tuple[
    dict[str, dict[str, tuple[float, float, str]]], dict[tuple[str, str], tuple[float, float, str]]
]:
    by_prefix: dict[str, dict[str, tuple[float, float, str]]] = {}
    by_town: dict[tuple[str, str], tuple[float, float, str]] = {}
    text = resources.files("domain.data").joinpath("postal_centroids.csv").read_text("utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    for row in csv.DictReader(lines):
        place = (float(row["latitude"]), float(row["longitude"]), row["town"])
        by_prefix.setdefault(row["country"], {})[row["prefix"]] = place
        by_town.setdefault((row["country"], _plain(row["town"])), place)
    return by_prefix, by_town


def approximate(
    country_code: str | None, postal_code: str | None, city: str | None
) -> Approximation | None:
    """The coordinates of a postal code's area (longest known prefix), else of the town
    by name, for the countries of domain/data/postal_centroids.csv; None elsewhere."""
    if not country_code:
        return None
    by_prefix, by_town = _areas()
    prefixes = by_prefix.get(country_code.upper(), {})
    code = "".join((postal_code or "").split()).upper()
    for length in range(min(len(code), 3), 0, -1):
        place = prefixes.get(code[:length])
        if place is not None:
            return Approximation(place[0], place[1], "postalCode", place[2])
    if city:
        place = by_town.get((country_code.upper(), _plain(city)))
        if place is not None:
            return Approximation(place[0], place[1], "city", place[2])
    return None
