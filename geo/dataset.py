"""One bundle of validated inputs (areas, sites, demand points, need), defaulting to the demo."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
from pyproj import CRS

from geo import settings
from geo.areas import read_areas
from geo.demand import demand_points_for, demo_demand_points, tag_areas
from geo.errors import InputError
from geo.need import NeedInput, read_need
from geo.sites import read_sites
from geo.tables import ReadReport, Source

DEMO_AREAS = settings.DATA_DIR / "boundaries" / "worcestershire.gpkg"
DEMO_SITES = settings.DATA_DIR / "sites" / "sites.csv"
DEMO_NEED = settings.DATA_DIR / "need" / "district_need.csv"
DEMO_COUNTS = settings.DATA_DIR / "need" / "client_counts_by_sector.csv"


@dataclass
class Dataset:
    """Validated inputs in one metric CRS, with what is real and what is illustrative."""

    areas: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    demand: gpd.GeoDataFrame
    need: NeedInput | None
    crs: CRS
    sources: dict[str, str] = field(default_factory=dict)
    illustrative: dict[str, bool] = field(default_factory=dict)
    reports: list[ReadReport] = field(default_factory=list)

    @property
    def is_demo(self) -> bool:
        """True when any layer comes from the embedded demo."""
        return any("demo" in s for s in self.sources.values())

    def provenance(self) -> list[str]:
        """One line per layer: where it came from and whether it is illustrative."""
        lines = []
        for layer, src in self.sources.items():
            flag = " (ILLUSTRATIVE)" if self.illustrative.get(layer) else ""
            lines.append(f"{layer}: {src}{flag}")
        return lines


def read_demo_areas(level: str = "districts") -> gpd.GeoDataFrame:
    """The demo county's approximate ``districts`` or ``wards`` polygons (BNG)."""
    gdf = gpd.read_file(DEMO_AREAS, layer=level)
    return gdf[["area_code", "area_name", "geometry"]]


def load_dataset(
    sites: str | Path | Source | None = None,
    areas: str | Path | Source | None = None,
    need: str | Path | Source | None = None,
    *,
    area_code: str | None = None,
    area_name: str | None = None,
    strict: bool = True,
) -> Dataset:
    """Read and validate every input, falling back to the embedded demo county.

    Parameters
    ----------
    sites, areas, need
        User files (paths or uploads); None takes the demo's.
    area_code, area_name
        Identifier columns of the areas file, when they cannot be detected.
    strict
        Whether a bad site row is an error (True) or skipped and reported (False).
    """
    sources: dict[str, str] = {}
    illustrative: dict[str, bool] = {}
    reports: list[ReadReport] = []
    if areas is None:
        area_gdf = read_demo_areas("districts")
        sources["areas"] = (
            "demo: Worcestershire districts, approximated from OS Code-Point Open postcode units"
        )
        illustrative["areas"] = False
    else:
        area_gdf = read_areas(areas, code_col=area_code, name_col=area_name)
        sources["areas"] = f"user file {Source.of(areas).name}"
    target = CRS.from_user_input(area_gdf.crs)

    if sites is None:
        site_gdf, rep = read_sites(DEMO_SITES, crs=target, study_area=area_gdf)
        sources["sites"] = "demo: 31 invented exchange sites at real town-centre postcodes"
        illustrative["sites"] = True
    else:
        site_gdf, rep = read_sites(sites, crs=target, study_area=area_gdf, strict=strict)
        sources["sites"] = f"user file {Source.of(sites).name}"
        illustrative["sites"] = bool(site_gdf["illustrative"].any())
    reports.append(rep)

    need_in: NeedInput | None = None
    if need is not None:
        need_in = read_need(need)
    if areas is None:
        demand = demo_demand_points()
        sources["demand"] = (
            "demo: OS Code-Point Open postcode units, residents estimated from Census 2021 "
            "district totals shared by output area"
        )
    elif target.to_epsg() != settings.BNG_EPSG:
        # Outside Great Britain there are no postcode units: weighted need points are the
        # demand points themselves.
        if need_in is None or need_in.kind != "points":
            raise InputError(
                "outside Great Britain, need must be given as weighted points.",
                file=Source.of(areas).name,
                fix="supply --need as a point file with a 'weight' column.",
            )
        pts = need_in.table.to_crs(target)
        demand = gpd.GeoDataFrame(
            {"postcode": "", "residents": pts["value"].to_numpy(float)},
            geometry=pts.geometry.values,
            crs=target,
        )
        sources["demand"] = f"need points from {need_in.file} (weights as residents)"
    else:
        demand = demand_points_for(area_gdf)
        sources["demand"] = "OS Code-Point Open postcode units inside the areas (equal weights)"
    illustrative["demand"] = False
    demand["area_code"] = tag_areas(demand, area_gdf)

    if need is None and areas is None:
        need_in = read_need(DEMO_NEED)
        sources["need"] = "demo: invented per-district estimates from the national OCU rate"
        illustrative["need"] = True
    elif need is None:
        need_in = None
    else:
        assert need_in is not None
        sources["need"] = f"user file {Source.of(need).name}"
        illustrative["need"] = need_in.illustrative
    return Dataset(
        areas=area_gdf,
        sites=site_gdf,
        demand=demand,
        need=need_in,
        crs=target,
        sources=sources,
        illustrative=illustrative,
        reports=reports,
    )
