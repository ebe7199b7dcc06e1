"""The demo data set: a French retailer with warehouses, stores, three channels, a few
hundred products and API keys whose secrets are fixed.

Everything goes through the domain services, so the demo data is held to the same
validation as data coming through the API, and the whole set is one transaction: a
crash half-way leaves nothing behind and the next start simply seeds again.

The demo API keys (see `DEMO_KEYS`) have published secrets. They are for development
only; never seed a database that is reachable by anyone else.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.access.keys import create_api_key, hash_secret
from domain.access.models import ApiKey
from domain.catalog.service import (
    AddressData,
    LocationData,
    ProductData,
    upsert_locations,
    upsert_products,
)
from domain.channel.models import Channel
from domain.channel.service import AllocationData, ChannelData, upsert_channel
from domain.db import BATCH_WAITS, UnitOfWork, create_engine, create_sessionmaker
from domain.outbound import OutboundGuard

# The channel whose presence means "the demo data is already there".
MARKER_CHANNEL = "web-fr"
# Any fixed number will do; it only has to be the same for every seeder, so that two
# `oms dev` started together do not both decide the data is missing.
_ADVISORY_LOCK_ID = 0x0D3E0_5EED

# ---------------------------------------------------------------------------------
# Locations
# ---------------------------------------------------------------------------------

_TIMEZONES = {"FR": "Europe/Paris", "BE": "Europe/Brussels", "CH": "Europe/Zurich"}


def _loc(
    code: str,
    name: str,
    kind: str,
    street: str,
    postal_code: str,
    city: str,
    lat: float,
    lon: float,
    *,
    country: str = "FR",
    priority: int,
    cost: str,
    capacity: int,
    cutoff: int,
    can_ship: bool = True,
    handling_days: int | None = None,
) -> LocationData:
    is_store = kind == "STORE"
    return LocationData(
        # Stores open Monday to Saturday, 10:00-19:30 local time.
        opening_hours=[
            {"day": day, "opens": "10:00", "closes": "19:30"}
            for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY")
        ]
        if is_store
        else None,
        code=code,
        name=name,
        kind=kind,
        address=AddressData(
            name=name, line1=street, postal_code=postal_code, city=city, country_code=country
        ),
        latitude=lat,
        longitude=lon,
        timezone=_TIMEZONES[country],
        can_ship=can_ship,
        can_pickup=is_store,
        priority=priority,
        cost_per_shipment=(cost, "EUR"),
        # Stores pick from the shelf the same day; warehouses work to a next-day wave.
        handling_days=handling_days if handling_days is not None else (0 if is_store else 1),
        cutoff_hour=cutoff,
        daily_capacity=capacity,
    )


# Lower priority numbers are preferred: the big regional warehouses first, stores
# (whose stock is better kept for walk-in customers) after them, partners last.
# Data tables are laid out one record per entry, which the formatter would undo.
# fmt: off
WAREHOUSES = [
    _loc("WH-LYON", "Lyon Gerland warehouse", "WAREHOUSE", "12 Avenue Tony Garnier", "69007",
         "Lyon", 45.7275, 4.8302, priority=10, cost="6.90", capacity=6000, cutoff=15),
    _loc("WH-PARIS-NORD", "Paris Nord warehouse (Gonesse)", "WAREHOUSE",
         "14 Avenue Pierre Salvi", "95500", "Gonesse", 48.9800, 2.4700,
         priority=10, cost="6.50", capacity=8000, cutoff=16),
    _loc("WH-LILLE", "Lille Lesquin warehouse", "WAREHOUSE", "Rue de l'Aéroport", "59810",
         "Lesquin", 50.5780, 3.1040, priority=20, cost="7.10", capacity=3500, cutoff=15),
    _loc("WH-MARSEILLE", "Marseille port warehouse", "WAREHOUSE", "Chemin du Littoral",
         "13015", "Marseille", 43.3530, 5.3440, priority=20, cost="7.40", capacity=3000,
         cutoff=14),
    _loc("WH-BORDEAUX", "Bordeaux Bacalan warehouse", "WAREHOUSE", "Rue Lucien Faure",
         "33300", "Bordeaux", 44.8690, -0.5540, priority=30, cost="7.20", capacity=2500,
         cutoff=14),
    _loc("WH-NANTES", "Nantes Carquefou warehouse", "WAREHOUSE", "Boulevard Ampère", "44470",
         "Carquefou", 47.2870, -1.5050, priority=30, cost="7.20", capacity=2500, cutoff=14),
]

STORES = [
    _loc("ST-PARIS-11", "Paris Oberkampf store", "STORE", "101 Rue Oberkampf", "75011",
         "Paris", 48.8650, 2.3780, priority=50, cost="8.90", capacity=120, cutoff=17),
    _loc("ST-LYON-02", "Lyon République store", "STORE", "58 Rue de la République", "69002",
         "Lyon", 45.7614, 4.8357, priority=50, cost="8.90", capacity=100, cutoff=17),
    _loc("ST-MARSEILLE-01", "Marseille Saint-Ferréol store", "STORE", "45 Rue Saint-Ferréol",
         "13001", "Marseille", 43.2926, 5.3781, priority=50, cost="8.90", capacity=80, cutoff=17),
    _loc("ST-TOULOUSE", "Toulouse Alsace-Lorraine store", "STORE",
         "36 Rue d'Alsace-Lorraine", "31000", "Toulouse", 43.6028, 1.4460,
         priority=50, cost="8.90", capacity=80, cutoff=17),
    _loc("ST-NICE", "Nice Jean Médecin store", "STORE", "28 Avenue Jean Médecin", "06000",
         "Nice", 43.7020, 7.2670, priority=60, cost="9.50", capacity=60, cutoff=17),
    _loc("ST-STRASBOURG", "Strasbourg Grandes Arcades store", "STORE",
         "12 Rue des Grandes Arcades", "67000", "Strasbourg", 48.5836, 7.7475,
         priority=60, cost="9.50", capacity=60, cutoff=17),
    _loc("ST-RENNES", "Rennes Le Bastard store", "STORE", "9 Rue Le Bastard", "35000",
         "Rennes", 48.1117, -1.6797, priority=60, cost="9.50", capacity=50, cutoff=17),
    _loc("ST-BRUXELLES", "Brussels Rue Neuve store", "STORE", "Rue Neuve 45", "1000",
         "Bruxelles", 50.8522, 4.3558, country="BE", priority=70, cost="11.00",
         capacity=60, cutoff=17),
    # Click and collect only: shipping from Switzerland into the EU means customs
    # paperwork for every parcel, which a store does not do.
    _loc("ST-GENEVE", "Geneva Rue du Rhône store", "STORE", "Rue du Rhône 48", "1204",
         "Genève", 46.2040, 6.1480, country="CH", priority=70, cost="14.00",
         capacity=40, cutoff=18, can_ship=False),
]

PARTNERS = [
    _loc("TPL-ORLEANS", "Orléans 3PL (Saran)", "THIRD_PARTY", "1 Rue du Champ Rond", "45770",
         "Saran", 47.9460, 1.8840, priority=80, cost="5.40", capacity=12000, cutoff=13),
    # Print on demand: made to order, hence the long handling time and early cut-off.
    _loc("DS-ROUBAIX", "Roubaix print partner (dropship)", "DROPSHIP", "Rue de l'Épeule",
         "59100", "Roubaix", 50.6890, 3.1630, priority=90, cost="8.50", capacity=300,
         cutoff=12, handling_days=3),
]
# fmt: on

LOCATIONS: list[LocationData] = [*WAREHOUSES, *STORES, *PARTNERS]

# ---------------------------------------------------------------------------------
# Channels
# ---------------------------------------------------------------------------------

_WAREHOUSE_CODES = [loc.code for loc in WAREHOUSES]
_WEB_SOURCING = ["PICKUP_LOCATION", "FEWEST_PARCELS", "DISTANCE", "PRIORITY", "COST", "MOST_STOCK"]

CHANNELS = [
    ChannelData(
        code="web-fr",
        name="Web store France",
        kind="WEB",
        currency="EUR",
        # Stores are in the network so that click and collect (and ship from store) work.
        network=[*_WAREHOUSE_CODES, *(loc.code for loc in STORES)],
        sourcing_rules=_WEB_SOURCING,
        max_splits=3,
        return_window_days=30,
    ),
    # A marketplace oversells easily (its stock feed lags), so it only ever sees part
    # of the stock, minus a safety buffer per SKU.
    ChannelData(
        code="marketplace-fr",
        name="Marketplace France",
        kind="MARKETPLACE",
        currency="EUR",
        network=_WAREHOUSE_CODES,
        allocation=AllocationData(share_percent=60, buffer=2),
        return_window_days=14,
    ),
    ChannelData(
        code="b2b-fr",
        name="B2B France (retailers and corporate gifts)",
        kind="B2B",
        currency="EUR",
        network=_WAREHOUSE_CODES,
        allow_backorders=True,
        return_window_days=14,
    ),
]

# ---------------------------------------------------------------------------------
# Products
# ---------------------------------------------------------------------------------

# How codes read in product names; anything not listed (sizes, formats) is kept as is.
# fmt: off
_LABELS = {
    "BLUE": "blue", "WHITE": "white", "BLACK": "black", "GREY": "heather grey",
    "GREEN": "green", "RED": "red", "NAVY": "navy", "SAND": "sand", "FOREST": "forest green",
    "BURGUNDY": "burgundy", "OCHRE": "ochre", "SAGE": "sage", "INK": "ink blue",
    "SNOW": "snow white", "CLAY": "clay", "ECRU": "ecru", "KRAFT": "kraft",
    "ORANGE": "orange", "YELLOW": "yellow", "MINT": "mint", "CHARCOAL": "charcoal",
    "DOT": "dot grid", "LINED": "lined", "PLAIN": "plain", "GRID": "squared",
    "POCKET": "pocket", "500ML": "500 ml", "750ML": "750 ml", "50X70": "50x70 cm",
    "MOUNTAINS": "Mountains", "WAVES": "Waves", "CITY": "City at night", "BOTANIC": "Botanic",
    "MAP": "Old map of Paris", "BIKE": "Bicycle", "FIG": "fig", "CEDAR": "cedar",
    "LAVENDER": "lavender", "VERBENA": "verbena", "AMBER": "amber", "TOMATO": "tomato leaf",
    "MIMOSA": "mimosa", "SEA": "sea salt",
}
# fmt: on

_APPAREL_SIZES = ("XS", "S", "M", "L", "XL", "XXL")


@dataclass(frozen=True, slots=True)
class _Family:
    """Products that differ only along some axes (colour, size, ...): one per combination.

    SKU is the prefix then the axis codes; the name is the base name then the axis labels.
    An empty code adds nothing, which gives a family its plain base product.
    """

    prefix: str
    name: str
    axes: Sequence[Sequence[str]]
    grams: int
    hs_code: str
    origin: str
    return_window_days: int | None  # None: not returnable
    grams_step: int = 0  # added per step along the last axis (bigger sizes weigh more)

    def products(self) -> list[ProductData]:
        out = []
        for combo in itertools.product(*self.axes):
            codes = [c for c in combo if c]
            out.append(
                ProductData(
                    sku="-".join([self.prefix, *codes]),
                    name=", ".join([self.name, *(_LABELS.get(c, c) for c in codes)]),
                    weight_grams=self.grams + self.grams_step * self.axes[-1].index(combo[-1]),
                    hs_code=self.hs_code,
                    country_of_origin=self.origin,
                    returnable=self.return_window_days is not None,
                    return_window_days=self.return_window_days,
                )
            )
        return out


# fmt: off
_FAMILIES = [
    _Family("TEE", "Organic tee",
            [("BLUE", "WHITE", "BLACK", "GREY", "GREEN", "RED", "NAVY", "SAND"), _APPAREL_SIZES],
            grams=150, grams_step=12, hs_code="610910", origin="PT", return_window_days=30),
    _Family("HOODIE", "Hoodie", [("BLACK", "GREY", "NAVY", "FOREST", "BURGUNDY"), _APPAREL_SIZES],
            grams=480, grams_step=35, hs_code="611020", origin="PT", return_window_days=30),
    _Family("SWEAT", "Crew sweatshirt",
            [("ECRU", "GREY", "NAVY", "SAGE", "OCHRE", "BLACK"), _APPAREL_SIZES],
            grams=400, grams_step=30, hs_code="611020", origin="PT", return_window_days=30),
    _Family("JOGGER", "Joggers", [("BLACK", "GREY", "NAVY", "FOREST", "SAND"), _APPAREL_SIZES],
            grams=380, grams_step=25, hs_code="610342", origin="PT", return_window_days=30),
    # Underwear is not taken back, for hygiene reasons.
    _Family("BOXER", "Organic boxer briefs", [("BLACK", "GREY", "NAVY", "WHITE"), _APPAREL_SIZES[1:]],
            grams=60, grams_step=5, hs_code="610711", origin="PT", return_window_days=None),
    _Family("SOCKS", "Merino socks",
            [("BLACK", "GREY", "NAVY", "OCHRE", "FOREST", "BURGUNDY"), ("35-38", "39-42", "43-46")],
            grams=55, grams_step=8, hs_code="611594", origin="IT", return_window_days=30),
    _Family("CAP", "Cotton cap",
            [("BLACK", "NAVY", "SAND", "FOREST", "RED", "WHITE", "OCHRE", "BLUE", "GREY", "MINT")],
            grams=90, hs_code="650500", origin="CN", return_window_days=30),
    _Family("BEANIE", "Wool beanie",
            [("BLACK", "GREY", "NAVY", "OCHRE", "FOREST", "BURGUNDY", "ECRU", "ORANGE")],
            grams=80, hs_code="650500", origin="IT", return_window_days=30),
    _Family("MUG-STONE", "Stoneware mug", [("", "SAGE", "OCHRE", "INK", "SNOW", "CLAY")],
            grams=380, hs_code="691200", origin="PT", return_window_days=30),
    _Family("MUG-ENAMEL", "Enamel camping mug",
            [("WHITE", "BLUE", "BLACK", "RED", "YELLOW", "MINT")],
            grams=190, hs_code="732394", origin="IN", return_window_days=30),
    _Family("NB", "Notebook",
            [("BLACK", "KRAFT", "BLUE"), ("DOT", "LINED", "PLAIN", "GRID"), ("POCKET", "A5", "A4")],
            grams=90, grams_step=150, hs_code="482020", origin="FR", return_window_days=30),
    _Family("TOTE", "Canvas tote bag",
            [("ECRU", "BLACK", "NAVY", "SAND", "FOREST", "OCHRE", "RED", "CHARCOAL")],
            grams=210, hs_code="420222", origin="IN", return_window_days=30),
    _Family("BOTTLE", "Insulated bottle",
            [("BLACK", "WHITE", "SAGE", "NAVY", "OCHRE", "RED"), ("500ML", "750ML")],
            grams=330, grams_step=90, hs_code="732393", origin="CN", return_window_days=30),
    # Prints are made to order by the dropship partner: a shorter return window.
    _Family("POSTER", "Poster",
            [("MOUNTAINS", "WAVES", "CITY", "BOTANIC", "MAP", "BIKE"), ("A3", "A2", "50X70")],
            grams=120, grams_step=60, hs_code="491191", origin="FR", return_window_days=14),
    _Family("CANDLE", "Scented candle",
            [("FIG", "CEDAR", "LAVENDER", "VERBENA", "AMBER", "TOMATO", "MIMOSA", "SEA")],
            grams=420, hs_code="340600", origin="FR", return_window_days=14),
    _Family("TOWEL", "Linen tea towel", [("ECRU", "SAGE", "OCHRE", "CHARCOAL", "RED", "BLUE")],
            grams=110, hs_code="630299", origin="LT", return_window_days=30),
]
# fmt: on


def demo_products() -> list[ProductData]:
    return [p for family in _FAMILIES for p in family.products()]


# ---------------------------------------------------------------------------------
# API keys
# ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _DemoKey:
    label: str
    description: str
    role: str
    secret: str
    channel: str | None = None
    location: str | None = None


# fmt: off
# The demo admin key: public by design, valid only where `make run` seeded the demo.
DEMO_ADMIN_SECRET = "oms_demo_admin_key_0000000000000000"  # noqa: S105

_KEYS = [
    _DemoKey("admin", "ADMIN: operations staff, everything", "ADMIN", DEMO_ADMIN_SECRET),
    _DemoKey("web-fr storefront", "CHANNEL web-fr", "CHANNEL",
             "oms_demo_web_fr_key_000000000000000", channel="web-fr"),
    _DemoKey("marketplace-fr connector", "CHANNEL marketplace-fr", "CHANNEL",
             "oms_demo_marketplace_key_0000000000", channel="marketplace-fr"),
    _DemoKey("b2b-fr portal", "CHANNEL b2b-fr", "CHANNEL",
             "oms_demo_b2b_fr_key_000000000000000", channel="b2b-fr"),
    _DemoKey("WH-LYON WMS", "PARTNER, warehouse WH-LYON only", "PARTNER",
             "oms_demo_wh_lyon_key_00000000000000", location="WH-LYON"),
    _DemoKey("ST-PARIS-11 POS", "PARTNER, store ST-PARIS-11 only", "PARTNER",
             "oms_demo_st_paris_11_key_00000000000", location="ST-PARIS-11"),
]
# fmt: on

# label -> (role description, secret). Published on purpose, for development only.
DEMO_KEYS: dict[str, tuple[str, str]] = {k.label: (k.description, k.secret) for k in _KEYS}

# ---------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoSummary:
    locations: int = 0
    channels: int = 0
    products: int = 0
    keys_created: int = 0
    already_loaded: bool = False

    def __str__(self) -> str:
        # One line: `oms dev` prints it inside its start-up banner.
        if self.already_loaded:
            return "demo data already loaded (nothing changed; `oms seed --force` reloads it)"
        return (
            f"demo data loaded: {self.locations} locations, {self.channels} channels, "
            f"{self.products} products, {self.keys_created} API keys created"
        )


async def _seed_keys(session: AsyncSession) -> int:
    created = 0
    for key in _KEYS:
        # A reload must not fail on (or duplicate) the keys of the first load; a key
        # someone revoked on purpose stays revoked.
        existing = await session.scalar(
            select(ApiKey.id).where(ApiKey.secret_hash == hash_secret(key.secret))
        )
        if existing is not None:
            continue
        await create_api_key(
            session,
            name=f"demo {key.label}",
            role=key.role,
            channel_code=key.channel,
            location_codes=[key.location] if key.location else None,
            secret=key.secret,
        )
        created += 1
    return created


async def _load(session: AsyncSession) -> DemoSummary:
    # Order matters: channels refer to locations, keys to channels and locations.
    locations = await upsert_locations(session, LOCATIONS)
    products = await upsert_products(session, demo_products())
    for channel in CHANNELS:
        # The demo's channels set no publish target: the rules do not matter here.
        await upsert_channel(session, channel, outbound=OutboundGuard.permissive())
    keys_created = await _seed_keys(session)
    # Stock after locations and products, in this same transaction so a half-seeded
    # database never shows.
    await _seed_stock(session, [loc.code for loc in locations], [p.sku for p in demo_products()])
    return DemoSummary(
        locations=len(locations),
        channels=len(CHANNELS),
        products=products,
        keys_created=keys_created,
    )


async def _seed_stock(session: AsyncSession, location_codes: list[str], skus: list[str]) -> None:
    """A believable spread: warehouses hold most SKUs in depth, stores a few units of
    some, a few SKUs run low (to show LOW_STOCK and reorder points) or out. Counted
    through the same operation a WMS uses, so the ledger starts right."""
    import datetime as dt
    import random

    from domain.access.principal import SYSTEM
    from domain.inventory.service import CountLine, set_stock_levels

    rng = random.Random(20261122)  # deterministic: the same demo every time
    now = dt.datetime.now(dt.UTC)
    for code in location_codes:
        warehouse = code.startswith(("WH-", "TPL-"))
        lines = []
        for sku in skus:
            if not warehouse and rng.random() < 0.5:
                continue
            on_hand = rng.randint(20, 400) if warehouse else rng.randint(0, 12)
            if rng.random() < 0.05:
                on_hand = rng.randint(0, 3)  # running low
            lines.append(
                CountLine(
                    sku=sku,
                    on_hand=on_hand,
                    safety_stock=2 if warehouse else 0,
                    reorder_point=15 if warehouse else 2,
                )
            )
        await set_stock_levels(
            session,
            SYSTEM,
            location_code=code,
            as_of=now,
            lines=lines,
            reference="demo-seed",
            now=now,
        )


async def seed(database_url: str, *, force: bool = False) -> DemoSummary:
    """Load the demo data set unless it is already there (or `force`, to upsert it again)."""
    # Seeding waits for a concurrent seed (its advisory lock) and writes thousands of
    # rows a statement: the command line's generous bounds.
    engine = create_engine(database_url, pool_size=1, max_overflow=0, waits=BATCH_WAITS)
    try:
        async with UnitOfWork(create_sessionmaker(engine)) as uow:
            await uow.session.execute(select(func.pg_advisory_xact_lock(_ADVISORY_LOCK_ID)))
            loaded = await uow.session.scalar(
                select(Channel.id).where(Channel.code == MARKER_CHANNEL)
            )
            if loaded is not None and not force:
                return DemoSummary(already_loaded=True)
            return await _load(uow.session)
    finally:
        await engine.dispose()
