"""Write published layers as RFC 7946 GeoJSON, GeoPackage or CSV, each with its metadata."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from analysis.layers import Layers
from geo import settings
from geo.errors import InputError

FORMATS = (".geojson", ".gpkg", ".csv")
#: RFC 7946 §11.2: six decimals of a degree is about 10 cm, more than enough.
DECIMALS = 6


def _clean(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else round(f, 6)
    if value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value if isinstance(value, (str, int)) else str(value)


def rfc7946_geometries(geoms: gpd.GeoSeries) -> np.ndarray:
    """WGS84, at most six decimals, valid, polygons wound right-hand (exterior CCW)."""
    g = geoms.to_crs(settings.WGS84_EPSG).values
    g = shapely.transform(g, lambda c: np.round(c, DECIMALS))
    g = shapely.make_valid(g)
    return shapely.orient_polygons(g, exterior_cw=False)


def to_geojson(gdf: gpd.GeoDataFrame, meta: dict[str, object]) -> dict:
    """A FeatureCollection following RFC 7946 (no ``crs`` member; metadata as a foreign member)."""
    geoms = rfc7946_geometries(gdf.geometry) if len(gdf) else []
    props = gdf.drop(columns=gdf.geometry.name)
    features = []
    for geom, (_, row) in zip(geoms, props.iterrows(), strict=True):
        features.append(
            {
                "type": "Feature",
                "geometry": None
                if geom is None or geom.is_empty
                else json.loads(shapely.to_geojson(geom)),
                "properties": {k: _clean(v) for k, v in row.items()},
            }
        )
    return {"type": "FeatureCollection", "metadata": meta, "features": features}


def write_geojson(path: Path, gdf: gpd.GeoDataFrame, meta: dict[str, object]) -> None:
    """Write one layer as RFC 7946 GeoJSON."""
    path.write_text(json.dumps(to_geojson(gdf, meta), ensure_ascii=False), encoding="utf-8")


def csv_text(df: pd.DataFrame, meta: dict[str, object]) -> str:
    """A CSV whose first lines are ``# key: value`` metadata (read with ``comment='#'``)."""
    buf = io.StringIO()
    for k, v in meta.items():
        buf.write(f"# {k}: {v}\n")
    df.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def write_gpkg(path: Path, layers: Layers) -> None:
    """Every layer into one GeoPackage (analysis CRS), plus ``metadata`` and ``coverage_curve``."""
    path.unlink(missing_ok=True)
    for name, gdf in layers.as_dict().items():
        if len(gdf) == 0:
            continue
        out = gdf.copy()
        for col in out.columns:
            if out[col].dtype == object and col != out.geometry.name:
                out[col] = out[col].astype("string")
        out.to_file(path, layer=name, driver="GPKG")
    meta = pd.DataFrame(
        {"key": list(layers.metadata), "value": [str(v) for v in layers.metadata.values()]}
    )
    pyogrio.write_dataframe(meta, path, layer="metadata", driver="GPKG")
    pyogrio.write_dataframe(layers.curve, path, layer="coverage_curve", driver="GPKG")


def export(layers: Layers, out: str | Path, layer: str = "areas") -> list[Path]:
    """Write results by the file's extension.

    ``.gpkg`` holds every layer; ``.geojson`` and ``.csv`` hold ``layer`` (CSV without
    geometry; for points, lon/lat columns are added).
    """
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"cannot write '{path.name}': unknown output type '{suffix or '(none)'}'.",
            fix="end the file name with .geojson, .gpkg or .csv.",
        )
    if not path.parent.exists():
        raise InputError(f"folder '{path.parent}' does not exist.", fix="create it first.")
    data = layers.as_dict()
    if suffix == ".gpkg":
        write_gpkg(path, layers)
        return [path]
    gdf = data[layer]
    meta = {**layers.metadata, "layer": layer}
    if suffix == ".geojson":
        write_geojson(path, gdf, meta)
    else:
        path.write_text(csv_text(table_of(gdf), meta), encoding="utf-8")
    return [path]


def table_of(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """A layer without geometry (points get lon/lat) for CSV."""
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    if len(gdf) and (gdf.geom_type == "Point").all():
        ll = gdf.geometry.to_crs(settings.WGS84_EPSG)
        df["lon"] = ll.x.round(DECIMALS)
        df["lat"] = ll.y.round(DECIMALS)
    return df
