"""Choose the metric analysis CRS (BNG in Great Britain, else local UTM) and check extents."""

from __future__ import annotations

import numpy as np
from pyproj import CRS, Transformer

from harmreach.geo import settings


def in_gb_lonlat(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Return True where a WGS84 position lies within Great Britain's extent."""
    x0, y0, x1, y1 = settings.GB_BOUNDS_DEG
    return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)


def in_gb_bng(easting: np.ndarray, northing: np.ndarray) -> np.ndarray:
    """Return True where a BNG position lies within Great Britain's extent."""
    x0, y0, x1, y1 = settings.GB_BOUNDS_M
    return (easting >= x0) & (easting <= x1) & (northing >= y0) & (northing <= y1)


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS84 UTM zone containing a point."""
    zone = int(np.floor((lon + 180.0) / 6.0)) % 60 + 1
    return (32600 if lat >= 0 else 32700) + zone


def analysis_crs(bounds_lonlat: tuple[float, float, float, float] | None) -> CRS:
    """Metric CRS for a study area: BNG inside Great Britain, else the local UTM zone.

    Parameters
    ----------
    bounds_lonlat
        (min lon, min lat, max lon, max lat) of the study area, or None for Great Britain.
    """
    if bounds_lonlat is None:
        return CRS.from_epsg(settings.BNG_EPSG)
    x0, y0, x1, y1 = bounds_lonlat
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if bool(in_gb_lonlat(np.array([cx]), np.array([cy]))[0]):
        return CRS.from_epsg(settings.BNG_EPSG)
    return CRS.from_epsg(utm_epsg(cx, cy))


def lonlat_to(crs: CRS | int, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS84 lon/lat arrays to ``crs``."""
    t = Transformer.from_crs(settings.WGS84_EPSG, crs, always_xy=True)
    x, y = t.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x), np.asarray(y)


def to_lonlat(crs: CRS | int, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project arrays in ``crs`` to WGS84 lon/lat."""
    t = Transformer.from_crs(crs, settings.WGS84_EPSG, always_xy=True)
    lon, lat = t.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon), np.asarray(lat)
