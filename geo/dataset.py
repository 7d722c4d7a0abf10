"""One bundle of validated inputs (areas, sites, demand points, need), for any English area.

Where each input comes from is decided here, once, and said plainly: the user's own file,
the built-in national data (real, with its source and vintage), an estimate (with its
method), or the illustrative demo. Faces print :meth:`Dataset.provenance`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from harmreach.geo import settings
from harmreach.geo.areas import read_areas
from harmreach.geo.demand import demand_points_for, demo_demand_points, tag_areas
from harmreach.geo.errors import InputError
from harmreach.geo.need import NeedInput, read_need
from harmreach.geo.sites import read_sites
from harmreach.geo.tables import ReadReport, Source

log = logging.getLogger(__name__)

DEMO_AREAS = settings.DATA_DIR / "boundaries" / "worcestershire.gpkg"
DEMO_SITES = settings.DATA_DIR / "sites" / "sites.csv"
DEMO_NEED = settings.DATA_DIR / "need" / "district_need.csv"
DEMO_COUNTS = settings.DATA_DIR / "need" / "client_counts_by_sector.csv"
#: The demo county's districts (Worcestershire): its illustrative sites serve these.
DEMO_DISTRICTS: tuple[str, ...] = tuple(f"E0700023{i}" for i in range(4, 10))

#: Where an input came from, as the faces say it.
YOURS = "yours"
REAL = "built in, real"
ESTIMATED = "estimated"
ILLUSTRATIVE = "illustrative"


@dataclass
class Origin:
    """Where one input came from: its kind (yours, built in real, estimated, illustrative)."""

    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.upper() if self.kind == ILLUSTRATIVE else self.kind} ({self.detail})"


@dataclass
class Dataset:
    """Validated inputs in one metric CRS, with where each one came from."""

    areas: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    need: NeedInput | None
    crs: CRS
    sources: dict[str, str] = field(default_factory=dict)
    illustrative: dict[str, bool] = field(default_factory=dict)
    reports: list[ReadReport] = field(default_factory=list)
    origins: dict[str, Origin] = field(default_factory=dict)
    #: The study area's name when it was built from national data ("Rotherham").
    place_label: str | None = None
    notes: list[str] = field(default_factory=list)
    #: Published local reference figures for the place, shown beside the model's.
    references: list[str] = field(default_factory=list)

    @property
    def is_demo(self) -> bool:
        """True when any input is the embedded demo's."""
        return any(o.kind == ILLUSTRATIVE for o in self.origins.values())

    def provenance(self) -> list[str]:
        """One line per input: sites, areas, residents, need (yours / real / estimated / ...)."""
        return [f"{layer}: {origin}" for layer, origin in self.origins.items()]

    def _set(self, layer: str, kind: str, detail: str) -> None:
        self.origins[layer] = Origin(kind, detail)
        self.sources[layer] = f"{kind}: {detail}"
        self.illustrative[layer] = kind == ILLUSTRATIVE


def read_demo_areas(level: str = "districts") -> gpd.GeoDataFrame:
    """The demo county's approximate ``districts`` or ``wards`` polygons (BNG)."""
    gdf = gpd.read_file(DEMO_AREAS, layer=level)
    return gdf[["area_code", "area_name", "geometry"]]


def _code_column(level: str) -> str:
    return {"districts": "district_code", "wards": "ward_code", "lsoas": "lsoa11cd"}[level]


def _choose_districts(codes: np.ndarray) -> tuple[tuple[str, ...], str]:
    """The districts holding the sites: every district with at least 10% of them."""
    s = pd.Series(codes[codes != ""])
    if s.empty:
        raise InputError(
            "none of the sites is in England, so no study area can be chosen.",
            fix="give --area NAME or an areas file for sites outside England.",
        )
    counts = s.value_counts()
    keep = counts[counts >= max(1.0, 0.1 * len(s))].index
    chosen = tuple(sorted(keep))
    why = ", ".join(f"{counts[c]} in {c}" for c in chosen)
    return chosen, f"the local authorities holding the sites ({why} of {len(s)})"


def load_dataset(
    sites: str | Path | Source | None = None,
    areas: str | Path | Source | None = None,
    need: str | Path | Source | None = None,
    *,
    area: str | None = None,
    level: str = "districts",
    area_code: str | None = None,
    area_name: str | None = None,
    need_code: str | None = None,
    sheet: str | None = None,
    layer: str | None = None,
    sites_layer: str | None = None,
    strict: bool = True,
) -> Dataset:
    """Read and validate every input, building the study area from national data if needed.

    Parameters
    ----------
    sites, areas, need
        User files (paths or uploads).
    area
        ``--area`` text: English local authorities or counties by name or ONS code,
        comma-separated. Builds districts/wards/LSOAs and demand points from the
        built-in national data.
    level
        With ``area`` or a sites-only run: report by ``districts``, ``wards`` or ``lsoas``.
    area_code, area_name
        Identifier columns of the areas file, when they cannot be detected.
    need_code
        The column of a per-area need table that holds the area codes (else detected).
    sheet, layer, sites_layer
        The XLSX sheet of the sites and need files, the layer of the areas file, the layer
        of a vector sites file (default: the only one; several are an error listing them).
    strict
        Whether a bad site row is an error (True) or skipped and reported (False).

    Notes
    -----
    With nothing given, the embedded demo county (Worcestershire, illustrative sites and
    need). With only a sites file, the study area is the authorities holding the sites;
    sites more than ``settings.BORDER_RING_M`` outside it are left out and counted.
    """
    if level not in ("districts", "wards", "lsoas"):
        raise InputError(f"unknown area level '{level}'.", fix="use districts, wards or lsoas.")
    if area is not None and areas is not None:
        raise InputError(
            "give either --area NAME or an areas file, not both.",
            fix="drop one of them.",
        )
    demo = sites is None and areas is None and need is None and area is None
    if demo:
        if level != "districts":
            # the demo's illustrative need is per district: it has no ward or LSOA figures
            raise InputError(
                f"the demo county reports by district only, not by {level}.",
                fix=f"for {level} use a real area, e.g. --area Worcestershire --level {level} "
                "(real residents, estimated need).",
            )
        return _demo_dataset()

    from harmreach.geo.places import build_place, districts_holding, resolve_area

    ds_notes: list[str] = []
    place = None
    site_gdf: gpd.GeoDataFrame | None = None
    reports: list[ReadReport] = []
    origins: dict[str, Origin] = {}
    if areas is not None:
        area_gdf = read_areas(areas, code_col=area_code, name_col=area_name, layer=layer)
        ds_notes += list(area_gdf.attrs.get("read_notes", []))
        origins["areas"] = Origin(YOURS, Source.of(areas).name)
    else:
        if area is not None:
            codes, label = resolve_area(area)
            how = f"--area {area}"
        elif sites is not None:
            site_gdf, rep = read_sites(
                sites, crs=settings.BNG_EPSG, strict=strict, sheet=sheet, layer=sites_layer
            )
            reports.append(rep)
            xy = np.c_[site_gdf.geometry.x, site_gdf.geometry.y]
            codes, how = _choose_districts(districts_holding(xy[:, 0], xy[:, 1]))
            label = None
        else:
            codes, label, how = DEMO_DISTRICTS, "Worcestershire", "the demo county"
        place = build_place(codes, label=label)
        area_gdf = place.level(level)
        origins["areas"] = Origin(
            REAL,
            f"{place.label}: {len(area_gdf)} {level if len(area_gdf) != 1 else level[:-1]}, "
            "approximate polygons from OS Code-Point "
            f"Open 2025.2.0 postcode positions ({how})",
        )
    target = CRS.from_user_input(area_gdf.crs)

    # Sites.
    if sites is None:
        if place is not None and set(place.codes) <= set(DEMO_DISTRICTS):
            site_gdf, rep = read_sites(DEMO_SITES, crs=target, study_area=area_gdf)
            reports.append(rep)
            origins["sites"] = Origin(
                ILLUSTRATIVE, "the demo's 31 invented exchange sites at real town-centre postcodes"
            )
        else:
            site_gdf = _no_sites(target)
            origins["sites"] = Origin(YOURS, "none given: add a sites file (--sites)")
            ds_notes.append("no sites given: coverage is 0%; plan proposes sites from scratch")
    else:
        if site_gdf is None:
            study = area_gdf if place is None else None
            site_gdf, rep = read_sites(
                sites, crs=target, study_area=study, strict=strict, sheet=sheet, layer=sites_layer
            )
            reports.append(rep)
        origins["sites"] = Origin(YOURS, Source.of(sites).name)
        site_gdf = site_gdf.assign(illustrative=False)
        if place is not None:
            site_gdf = _within_ring(site_gdf, area_gdf, ds_notes)

    # Demand points and residents.
    need_in: NeedInput | None = None
    if need is not None:
        codes_known = _known_codes(area_gdf, place)
        need_in = read_need(need, area_codes=codes_known, code_col=need_code, sheet=sheet)
        ds_notes += list(getattr(need_in, "notes", []) or [])
    if place is not None:
        demand = place.demand.copy()
        demand["area_code"] = demand[_code_column(level)].to_numpy()
        origins["residents"] = Origin(REAL, place.residents_source)
    elif target.to_epsg() != settings.BNG_EPSG:
        # Outside Great Britain there are no postcode units: weighted need points are the
        # demand points themselves.
        if need_in is None or need_in.kind != "points":
            raise InputError(
                "outside Great Britain, need must be given as weighted points.",
                file=Source.of(areas).name if areas is not None else None,
                fix="supply --need as a point file with a 'weight' column.",
            )
        pts = need_in.table.to_crs(target)
        demand = gpd.GeoDataFrame(
            {"postcode": "", "residents": pts["value"].to_numpy(float)},
            geometry=pts.geometry.values,
            crs=target,
        )
        demand["area_code"] = tag_areas(demand, area_gdf)
        origins["residents"] = Origin(YOURS, f"need points from {need_in.file} (weights)")
    else:
        from harmreach.geo.places import residents_provenance

        demand = demand_points_for(area_gdf)
        demand["area_code"] = tag_areas(demand, area_gdf)
        origins["residents"] = Origin(REAL, residents_provenance())

    # Need.
    if need_in is not None:
        assert need is not None
        origins["need"] = Origin(YOURS, f"{Source.of(need).name} ({need_in.kind})")
    else:
        from harmreach.geo.need_model import model_need

        need_in, method = model_need(demand)
        origins["need"] = Origin(ESTIMATED, method)
    ds = Dataset(
        areas=area_gdf,
        sites=site_gdf,
        demand=demand,
        need=need_in,
        crs=target,
        reports=reports,
        place_label=place.label if place is not None else None,
        notes=ds_notes,
    )
    for layer in ("sites", "areas", "residents", "need"):
        o = origins[layer]
        ds._set(layer, o.kind, o.detail)
    if place is not None:
        from harmreach.geo.need_model import references_for

        ds.references = references_for(place.codes)
    return ds


def _known_codes(area_gdf: gpd.GeoDataFrame, place: object) -> set[str]:
    """Every code a per-area need table could be keyed by: areas, and a place's LSOAs/wards."""
    codes = set(area_gdf["area_code"].astype(str))
    if place is not None:
        d = place.demand  # type: ignore[attr-defined]
        for col in ("district_code", "ward_code", "lsoa11cd"):
            codes |= set(d[col].astype(str))
    return codes


def _within_ring(
    sites: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, notes: list[str]
) -> gpd.GeoDataFrame:
    """Keep sites inside the study area or within the border ring; count the rest."""
    ring = settings.BORDER_RING_M
    outline = areas.geometry.union_all()
    d = sites.geometry.distance(outline).to_numpy()
    far = d > ring
    outside = (d > 0) & ~far
    if outside.any():
        notes.append(
            f"{int(outside.sum())} site(s) outside the study area but within "
            f"{ring / 1000:.0f} km kept: people can cross the border to them"
        )
    if far.any():
        ids = ", ".join(sites.loc[far, "site_id"].astype(str).head(5))
        more = f" and {int(far.sum()) - 5} more" if far.sum() > 5 else ""
        notes.append(
            f"{int(far.sum())} site(s) more than {ring / 1000:.0f} km outside the study area "
            f"left out ({ids}{more}); use --area to include their authority"
        )
    return sites.loc[~far].reset_index(drop=True)


def _no_sites(crs: CRS) -> gpd.GeoDataFrame:
    cols = ["site_id", "name", "type", "opening_hours", "capacity", "services", "active"]
    df = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    df["active"] = df["active"].astype(bool)
    df["capacity"] = df["capacity"].astype(float)
    df["illustrative"] = pd.Series(dtype=bool)
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def _demo_dataset() -> Dataset:
    """The embedded demo county, exactly as before: illustrative sites and need."""
    area_gdf = read_demo_areas("districts")
    target = CRS.from_user_input(area_gdf.crs)
    site_gdf, rep = read_sites(DEMO_SITES, crs=target, study_area=area_gdf)
    demand = demo_demand_points()
    demand["area_code"] = tag_areas(demand, area_gdf)
    ds = Dataset(
        areas=area_gdf,
        sites=site_gdf,
        demand=demand,
        need=read_need(DEMO_NEED),
        crs=target,
        reports=[rep],
        place_label="Worcestershire (demo)",
    )
    ds._set("sites", ILLUSTRATIVE, "the demo's 31 invented exchange sites at real postcodes")
    ds._set(
        "areas",
        REAL,
        "demo: Worcestershire's 6 districts, approximate polygons from OS Code-Point Open",
    )
    ds._set(
        "residents",
        ESTIMATED,
        "demo: Census 2021 district totals shared over postcode units by output area",
    )
    ds._set("need", ILLUSTRATIVE, "demo: invented per-district figures around the national rate")
    return ds
