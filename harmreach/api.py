"""The Python API for analysts: ``hr.coverage(...)`` gives published layers, ready to map or save.

It runs the same chain as the command line (read and validate, travel times, coverage,
the one publishing gate) and hands back only what the gate published::

    import harmreach as hr

    run = hr.coverage(sites="sites.csv", area="Rotherham", minutes=15, mode="walk")
    run.areas.explore(column="share_covered")  # a GeoDataFrame (British National Grid)
    run.to_file("rotherham.gpkg")  # every layer, with metadata

Inputs are file paths or (Geo)DataFrames; a street network is an ``.osm.pbf`` path, an
OSMnx graph (networkx MultiDiGraph), or a :class:`geo.network.StreetNetwork`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from harmreach.analysis import publish
from harmreach.analysis.exports import export
from harmreach.analysis.publish import Published
from harmreach.analysis.scenario import CoverageResult, Params, build_engine, run_coverage
from harmreach.geo import crs as crsmod
from harmreach.geo import settings
from harmreach.geo.dataset import Dataset, load_dataset
from harmreach.geo.errors import InputError
from harmreach.geo.network import StreetNetwork
from harmreach.geo.tables import Source

InputLike = str | Path | gpd.GeoDataFrame | pd.DataFrame | None


@dataclass
class CoverageRun:
    """One published coverage run: layers and tables as the gate let them out."""

    published: Published
    dataset: Dataset
    _result: CoverageResult

    @property
    def areas(self) -> gpd.GeoDataFrame:
        """Areas with need, need covered, share covered, ... (suppressed where needed)."""
        return self.published.areas

    @property
    def sites(self) -> gpd.GeoDataFrame:
        """The sites, with whether each was in play."""
        return self.published.sites

    @property
    def gaps(self) -> gpd.GeoDataFrame:
        """Uncovered clusters with need at or above the threshold, ranked."""
        return self.published.gaps

    @property
    def table(self) -> pd.DataFrame:
        """The per-area table with an ``ALL`` row."""
        return self.published.table

    @property
    def curve(self) -> pd.DataFrame:
        """Share of need within reach by minutes (published points only)."""
        return self.published.curve

    @property
    def headlines(self) -> dict[str, str]:
        """Headline figures as published text (a band and its reason when hidden)."""
        return {k: str(v) for k, v in self.published.headlines.items()}

    @property
    def metadata(self) -> dict[str, object]:
        """Parameters, travel model, data sources and attribution, as every export carries."""
        return self.published.metadata

    def summary(self) -> str:
        """A few lines: where inputs came from, the travel model and the headlines."""
        p = self._result.params
        lines = [f"travel model: {self._result.model}"]
        lines += [f"input {line}" for line in self.dataset.provenance()]
        lines.append(f"within {p.minutes:g} minutes by {p.mode}:")
        lines += [f"  {k}: {v}" for k, v in self.headlines.items()]
        lines.append(f"legend: {self.published.legend}")
        return "\n".join(lines)

    def to_file(self, path: str | Path, layer: str = "areas") -> list[Path]:
        """Write ``.gpkg`` (every layer), ``.geojson`` or ``.csv`` (one layer + metadata)."""
        return export(self.published, path, layer=layer)

    def __repr__(self) -> str:
        return f"<harmreach CoverageRun: {self.headlines.get('need_covered', '?')} covered>"


def _source(obj: InputLike, kind: str) -> str | Path | Source | None:
    """Paths pass through; frames become in-memory files the readers validate as usual."""
    if obj is None or isinstance(obj, str | Path):
        return obj
    if isinstance(obj, gpd.GeoDataFrame):
        if obj.crs is None:
            raise InputError(
                f"the {kind} GeoDataFrame has no CRS.",
                fix="set one, e.g. gdf.set_crs(27700) or gdf.set_crs(4326).",
            )
        # GeoJSON is WGS84 lon/lat by definition (RFC 7946): reproject, then serialise.
        data = crsmod.to_crs(obj, settings.WGS84_EPSG).to_json(drop_id=True).encode()
        return Source(name=f"{kind}.geojson", data=data)
    if isinstance(obj, pd.DataFrame):
        buf = io.StringIO()
        obj.to_csv(buf, index=False)
        return Source(name=f"{kind}.csv", data=buf.getvalue().encode())
    raise InputError(
        f"{kind} must be a file path or a (Geo)DataFrame, not {type(obj).__name__}.",
        fix="pass a path such as 'sites.csv' or a DataFrame.",
    )


def _network(network: object, mode: str, ds: Dataset) -> StreetNetwork | None:
    if network is None or isinstance(network, StreetNetwork):
        return network
    if isinstance(network, str | Path):
        from harmreach.geo.network import network_from_pbf

        return network_from_pbf(network, mode, crs=ds.crs)
    if hasattr(network, "nodes") and hasattr(network, "edges"):
        from harmreach.geo.osmnx_graph import network_from_graph

        return network_from_graph(network, mode, crs=ds.crs)
    raise InputError(
        f"network must be an .osm.pbf path, an OSMnx graph or a StreetNetwork, not "
        f"{type(network).__name__}.",
        fix="pass e.g. network='county.osm.pbf' or an osmnx.graph_from_place(...) graph.",
    )


def load(
    sites: InputLike = None,
    areas: InputLike = None,
    need: InputLike = None,
    *,
    area: str | None = None,
    level: str = "districts",
    **kwargs: object,
) -> Dataset:
    """Read and validate inputs as the CLI does (see :func:`geo.dataset.load_dataset`)."""
    return load_dataset(
        _source(sites, "sites"),
        _source(areas, "areas"),
        _source(need, "need"),
        area=area,
        level=level,
        **kwargs,  # type: ignore[arg-type]
    )


def coverage(
    sites: InputLike = None,
    areas: InputLike = None,
    need: InputLike = None,
    *,
    area: str | None = None,
    level: str = "districts",
    minutes: float = settings.DEFAULT_MINUTES,
    mode: str = settings.DEFAULT_MODE,
    network: object = None,
    at: str | None = None,
    types: tuple[str, ...] | list[str] | None = None,
    suppress: int = settings.SUPPRESSION_THRESHOLD,
    unsafe: bool = False,
    round_to: float | None = None,
    assume_open: bool = False,
) -> CoverageRun:
    """Need covered within ``minutes`` of an open site, per area, published safely.

    Parameters
    ----------
    sites, areas, need
        File paths or (Geo)DataFrames, validated as the CLI's files are. All None: the demo.
    area
        English local authorities or counties by name or code (``"Rotherham"``).
    level
        ``districts``, ``wards`` or ``lsoas`` (with ``area`` or sites alone).
    minutes, mode, at, types, assume_open
        As the CLI's ``--minutes``, ``--mode``, ``--at``, ``--types``, ``--assume-open``.
    network
        ``.osm.pbf`` path, OSMnx graph or StreetNetwork; None estimates travel times.
    suppress, unsafe
        Suppression threshold; below 5 only with ``unsafe=True`` (stamped on every output).
    round_to
        Round published counts to this base after suppression.

    Returns
    -------
    CoverageRun
        Published layers (``areas``, ``sites``, ``gaps``), tables, headlines, metadata and
        ``to_file``.
    """
    if mode not in settings.MODES:
        raise InputError(f"unknown mode '{mode}'.", fix=f"use one of {', '.join(settings.MODES)}.")
    if not (0 < float(minutes) <= 600):
        raise InputError(f"minutes={minutes} is out of range.", fix="use 1 to 600.")
    publish.check_threshold(suppress, unsafe)
    ds = load(sites, areas, need, area=area, level=level)
    params = Params(
        mode=mode,
        minutes=float(minutes),
        at=at,
        types=tuple(types) if types else None,
        suppress=int(suppress),
        assume_open=assume_open,
    )
    engine = build_engine(params, _network(network, mode, ds))
    result = run_coverage(ds, params, engine=engine)
    pub = publish.coverage(ds, result, unsafe=unsafe, round_to=round_to)
    return CoverageRun(published=pub, dataset=ds, _result=result)
