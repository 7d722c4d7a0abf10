"""Typed, documented defaults shared by the library, the command line and the dashboard.

Functions take ``param=None`` and fall back to these values, so every front end agrees.
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

#: The built-in data (demo county, national tables), found as package data so that a normal
#: (non-editable) install works as well as the repository checkout.
DATA_DIR: Path = Path(str(importlib.resources.files("harmreach.data")))
#: The source checkout's root when running from one (tests and the dashboard start there).
REPO_ROOT: Path = Path(__file__).resolve().parent.parent

#: Where parsed networks and the postcode index are cached between runs.
CACHE_DIR: Path = Path(
    os.environ.get("HARMREACH_CACHE", Path.home() / ".cache" / "harmreach")
).expanduser()

#: British National Grid: the metric CRS all work in Great Britain is done in.
BNG_EPSG: int = 27700
#: Exports for the web are WGS84 (RFC 7946).
WGS84_EPSG: int = 4326
#: Great Britain's extent in BNG metres (with a margin for the islands).
GB_BOUNDS_M: tuple[float, float, float, float] = (-10_000.0, -10_000.0, 700_000.0, 1_250_000.0)
#: Great Britain's extent in degrees (lon_min, lat_min, lon_max, lat_max).
GB_BOUNDS_DEG: tuple[float, float, float, float] = (-8.75, 49.8, 1.9, 60.9)

#: Travel modes and their speeds in km/h (walking 4.8 km/h: see DOMAIN.md).
MODES: tuple[str, ...] = ("walk", "cycle", "drive")
SPEED_KPH: dict[str, float] = {"walk": 4.8, "cycle": 15.0, "drive": 40.0}
#: Straight-line → street distance (circuity) factors for the estimated travel model.
#: Towns are 1.2-1.4 (DOMAIN.md); we take the middle for walking and cycling, more for roads.
DETOUR_FACTOR: dict[str, float] = {"walk": 1.3, "cycle": 1.3, "drive": 1.4}
#: Drive speeds by OSM highway class when ``maxspeed`` is not tagged (km/h; urban-ish values
#: below the legal limit to allow for junctions and traffic).
DRIVE_SPEED_BY_HIGHWAY_KPH: dict[str, float] = {
    "motorway": 100.0,
    "motorway_link": 60.0,
    "trunk": 80.0,
    "trunk_link": 50.0,
    "primary": 55.0,
    "primary_link": 40.0,
    "secondary": 50.0,
    "secondary_link": 35.0,
    "tertiary": 40.0,
    "tertiary_link": 30.0,
    "unclassified": 35.0,
    "residential": 25.0,
    "living_street": 10.0,
    "service": 15.0,
    "road": 30.0,
}
#: Fraction of a tagged ``maxspeed`` that traffic achieves on average.
MAXSPEED_FRACTION: float = 0.85
#: Points farther than this from a usable street are reported, not snapped.
MAX_SNAP_M: float = 500.0

#: Coverage threshold in minutes (a 15-minute walk) and the default mode.
DEFAULT_MINUTES: float = 15.0
DEFAULT_MODE: str = "walk"
#: How many nearest sites the engine reports per demand point.
DEFAULT_K: int = 3
#: Coverage curve range in minutes.
CURVE_MAX_MINUTES: int = 60

#: With only a sites file, the study area is the authorities holding the sites; sites up to
#: this far outside it are kept (people cross borders to them), farther ones are reported.
BORDER_RING_M: float = 10_000.0

#: Counts of people under this are suppressed in everything published (NDTMS rule).
SUPPRESSION_THRESHOLD: int = 5

#: Site types the tool knows.
SITE_TYPES: tuple[str, ...] = (
    "pharmacy",
    "hospital",
    "drug_service",
    "satellite",
    "mobile",
    "clinic",
    "other",
)

#: England's opiate/crack (OCU) rate, about 9 per 1,000 residents aged 15-64 (DOMAIN.md),
#: and the share of residents aged 15-64 (about 62% in England, Census 2021).
OCU_PER_1000_AGED_15_64: float = 9.0
SHARE_AGED_15_64: float = 0.62
#: The need model's national rate: England 2019/20, 341,032 opiate and/or crack users
#: (OHID/UKHSA revised estimates, 2023) ÷ 35.87 M aged 15-64 (ONS mid-2020) = 9.51 per 1,000.
#: ``data/build_national.py`` prints the recomputed value; see ``data/need/README.md``.
MODEL_OCU_PER_1000_AGED_15_64: float = 9.51
#: People currently injecting among opiate/crack users, England 2018/19: 67,715 of 336,531.
PWID_SHARE_OF_OCU: float = 0.201

#: Attribution required by the Open Government Licence for the postcode data.
ATTRIBUTION: str = (
    "Contains OS data © Crown copyright and database right; "
    "Contains Royal Mail data © Royal Mail copyright and database right; "
    "Contains National Statistics data © Crown copyright and database right."
)
OSM_ATTRIBUTION: str = "Street network © OpenStreetMap contributors (ODbL)."
