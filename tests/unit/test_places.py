"""Coordinates checks and the postal-area approximation (domain/geo.py)."""

from __future__ import annotations

import math

from domain.geo import approximate, coordinate_problems, haversine_km


def test_coordinates_must_be_finite_in_range_and_in_pairs() -> None:
    assert coordinate_problems(48.85, 2.35) == []
    assert coordinate_problems(None, None) == []
    assert [f for f, _ in coordinate_problems(None, None, required=True)] == ["latitude"]
    assert [f for f, _ in coordinate_problems(999, 2.35)] == ["latitude"]
    assert [f for f, _ in coordinate_problems(48.85, -180.5)] == ["longitude"]
    assert [f for f, _ in coordinate_problems(math.nan, math.inf)] == ["latitude", "longitude"]
    assert [f for f, _ in coordinate_problems(48.85, None)] == ["longitude"]


def test_a_postal_code_or_a_city_places_a_destination_in_its_area() -> None:
    marseille = approximate("FR", "13001", None)
    assert marseille is not None and marseille.area == "Marseille"
    assert haversine_km(marseille.latitude, marseille.longitude, 43.2965, 5.3698) < 5
    assert approximate("FR", "75011", "Paris").area == "Paris"  # type: ignore[union-attr]
    assert approximate("FR", "20200", None).area == "Bastia"  # type: ignore[union-attr]
    assert approximate("FR", "97400", None).area == "Saint-Denis"  # type: ignore[union-attr]
    assert approximate("BE", "1000", None).area == "Brussels"  # type: ignore[union-attr]
    assert approximate("CH", "1204", None).area == "Genève"  # type: ignore[union-attr]
    by_city = approximate("FR", "", "marseille cedex 01")
    assert by_city is not None and by_city.source == "city"
    assert approximate("DE", "10115", "Berlin") is None
    assert approximate("FR", "", "Nowhere-sur-Mer") is None
