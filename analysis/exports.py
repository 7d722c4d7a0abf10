"""Write published layers as RFC 7946 GeoJSON, GeoPackage or CSV, each with its metadata.

Only what :mod:`analysis.publish` returns is written (:func:`export` checks the gate's
stamp). Every write goes to a temporary file in the target's folder and replaces the
target only when complete, so a full disk or a crash never leaves a half-written file or
removes a good one. CSV files are plain tables (the header on line 1, readable by
``pandas.read_csv`` and spreadsheets) with their metadata in ``NAME.metadata.json``
beside them; text cells that a spreadsheet would run as a formula are prefixed with ``'``.
GeoJSON positions are longitude/latitude only (no British National Grid properties).
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from harmreach.geo import crs as crsmod
from harmreach.geo import settings
from harmreach.geo.errors import InputError

FORMATS = (".geojson", ".gpkg", ".csv")
#: RFC 7946 §11.2: six decimals of a degree is about 10 cm, more than enough.
DECIMALS = 6
#: Cells starting with these run as formulas in spreadsheets (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Position properties in metres that have no place in a lon/lat file.
METRE_POSITIONS = ("centre_x", "centre_y", "x", "y", "easting", "northing")


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


def _writable(path: Path) -> None:
    """A clear error before any work when the target cannot be written."""
    if path.exists() and path.is_dir():
        raise InputError(f"'{path}' is a folder.", fix="give a file name, e.g. out.geojson.")
    if not path.parent.exists():
        raise InputError(f"folder '{path.parent}' does not exist.", fix="create it first.")
    if not path.parent.is_dir():
        raise InputError(
            f"'{path.parent}' is a file, not a folder (it does not exist as a folder).",
            fix="choose a folder for --out.",
        )
    if not os.access(path.parent, os.W_OK):
        raise InputError(
            f"cannot write '{path.name}': folder '{path.parent}' is not writable.",
            fix="choose a folder you can write to (--out).",
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(
            f"cannot write '{path}': the file is read-only.",
            fix="choose another file name or make it writable.",
        )


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Write via ``write(tmp)`` to a temporary file beside ``path``, then replace ``path``.

    The target is untouched until the new file is complete; on any error the temporary
    file is removed and an :class:`InputError` says what went wrong.
    """
    path = Path(path)
    _writable(path)
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    except OSError as exc:
        raise InputError(
            f"cannot write '{path}': {(exc.strerror or str(exc)).lower()}.",
            fix="choose a folder you can write to (--out).",
        ) from exc
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # drivers (GeoPackage) want to create the file themselves
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        reason = (
            "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc)).lower()
        )
        raise InputError(
            f"cannot write '{path}': {reason}; the existing file (if any) is unchanged.",
            fix="free some space or choose another folder (--out).",
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _write_text(path: Path, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def formula_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells that start like a formula get a leading ``'`` (numbers are left alone)."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        text = s.astype("string")
        risky = text.str.startswith(FORMULA_START).fillna(False).to_numpy(bool)
        if risky.any():
            out[col] = s.astype(object).where(~risky, "'" + text.astype(object))
    return out


def rfc7946_geometries(geoms: gpd.GeoSeries) -> np.ndarray:
    """WGS84, at most six decimals, valid, polygons wound right-hand (exterior CCW)."""
    g = crsmod.to_crs(geoms, settings.WGS84_EPSG).values
    g = shapely.transform(g, lambda c: np.round(c, DECIMALS))
    g = shapely.make_valid(g)
    return shapely.orient_polygons(g, exterior_cw=False)


def to_geojson(gdf: gpd.GeoDataFrame, meta: dict[str, object]) -> dict:
    """A FeatureCollection following RFC 7946 (no ``crs`` member; metadata as a foreign member).

    Properties holding positions in metres (``centre_x``, ``easting``, ...) are dropped:
    positions in this file are longitude/latitude only.
    """
    geoms = rfc7946_geometries(gdf.geometry) if len(gdf) else []
    props = gdf.drop(columns=[gdf.geometry.name, *(c for c in METRE_POSITIONS if c in gdf)])
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
    return {
        "type": "FeatureCollection",
        "metadata": {k: _clean(v) for k, v in meta.items()},
        "features": features,
    }


def write_geojson(path: str | Path, gdf: gpd.GeoDataFrame, meta: dict[str, object]) -> Path:
    """Write one layer as RFC 7946 GeoJSON (atomically)."""
    return _write_text(Path(path), json.dumps(to_geojson(gdf, meta), ensure_ascii=False))


def csv_text(df: pd.DataFrame, meta: dict[str, object] | None = None) -> str:
    """A plain, formula-safe CSV table (header on line 1); metadata goes in a sidecar."""
    buf = io.StringIO()
    formula_safe(df).to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def metadata_json(meta: dict[str, object]) -> str:
    """The sidecar ``NAME.metadata.json`` of a CSV."""
    return json.dumps({k: _clean(v) for k, v in meta.items()}, ensure_ascii=False, indent=1)


def sidecar(path: str | Path) -> Path:
    """``out.csv`` → ``out.metadata.json``."""
    p = Path(path)
    return p.with_name(p.stem + ".metadata.json")


def write_csv(path: str | Path, df: pd.DataFrame, meta: dict[str, object]) -> list[Path]:
    """A plain CSV and its metadata sidecar, both written atomically."""
    p = Path(path)
    _writable(p)
    _write_text(sidecar(p), metadata_json(meta))
    _write_text(p, csv_text(df))
    return [p, sidecar(p)]


def write_gpkg(path: str | Path, layers: object) -> Path:
    """Every layer into one GeoPackage (analysis CRS), plus ``metadata`` and ``coverage_curve``.

    Written to a temporary GeoPackage beside the target, which replaces an existing file
    only when complete.
    """

    def write(tmp: Path) -> None:
        for name, gdf in layers.as_dict().items():
            if gdf is None or len(gdf) == 0:
                continue
            out = gdf.copy()
            for col in out.columns:
                if out[col].dtype == object and col != out.geometry.name:
                    out[col] = out[col].astype("string")
            out.to_file(tmp, layer=name, driver="GPKG")
        meta = pd.DataFrame(
            {"key": list(layers.metadata), "value": [str(v) for v in layers.metadata.values()]}
        )
        pyogrio.write_dataframe(meta, tmp, layer="metadata", driver="GPKG")
        pyogrio.write_dataframe(layers.curve, tmp, layer="coverage_curve", driver="GPKG")
        by_type = getattr(layers, "by_type", None)
        if by_type is not None and len(by_type):
            pyogrio.write_dataframe(by_type, tmp, layer="by_type", driver="GPKG")

    return write_atomic(path, write)


def _check_gate(layers: object) -> None:
    from harmreach.analysis.publish import GATE

    if getattr(layers, "metadata", {}).get("published_by") != GATE:
        raise TypeError("only results published by analysis.publish may be exported")


def export(layers: object, out: str | Path, layer: str = "areas") -> list[Path]:
    """Write published results by the file's extension.

    ``.gpkg`` holds every layer; ``.geojson`` and ``.csv`` hold ``layer`` (CSV without
    geometry, points with lon/lat columns, and a ``.metadata.json`` sidecar).
    """
    _check_gate(layers)
    path = Path(out)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(
            f"cannot write '{path.name}': unknown output type '{suffix or '(none)'}'.",
            fix="end the file name with .geojson, .gpkg or .csv.",
        )
    _writable(path)
    data = layers.as_dict()
    if suffix == ".gpkg":
        return [write_gpkg(path, layers)]
    gdf = data[layer]
    meta = {**layers.metadata, "layer": layer}
    if suffix == ".geojson":
        return [write_geojson(path, gdf, meta)]
    return write_csv(path, table_of(gdf), meta)


def table_of(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """A layer without geometry for CSV: points get lon/lat; no positions in metres."""
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    df = df.drop(columns=[c for c in METRE_POSITIONS if c in df.columns])
    if len(gdf) and (gdf.geom_type == "Point").all() and "lon" not in df.columns:
        ll = crsmod.to_crs(gdf.geometry, settings.WGS84_EPSG)
        df["lon"] = ll.x.round(DECIMALS)
        df["lat"] = ll.y.round(DECIMALS)
    return df
