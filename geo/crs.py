"""Choose the metric analysis CRS (BNG in Great Britain, else local UTM) and convert to it.

WGS84 lon/lat <-> British National Grid (EPSG:27700) goes through Ordnance Survey's OSTN15
transformation (the ``convertbng`` package, which embeds OS's grid): it reproduces OS's
published test points to the millimetre. pyproj alone cannot do this offline: PROJ needs OS's
OSTN15 grid file, which pyproj does not ship and Debian's proj-data does not include, and
without it PROJ silently uses the national 7-parameter Helmert "OSGB36 to WGS 84 (6)", which
is out by up to about 5 m (4.9 m at St Kilda, 4.7 m on Scilly, 1-2.7 m in most of England on
OS's test points). Every other pair of CRSs (UTM outside Great Britain, a file's own CRS) goes
through pyproj, which is exact there, and pyproj's Helmert is also the fallback for positions
outside the area OSTN15 covers (BNG eastings 0-700 km, northings 0-1,250 km).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

import geopandas as gpd
import numpy as np
import shapely
from convertbng.cutil import convert_bng, convert_etrs89_to_osgb36, convert_lonlat
from pyproj import CRS, Transformer

from harmreach.geo import settings

log = logging.getLogger(__name__)

GeoT = TypeVar("GeoT", gpd.GeoDataFrame, gpd.GeoSeries)

#: Geographic CRSs taken as WGS84 for OSTN15. OS: "for all navigation, mapping, GIS and
#: engineering applications [in Great Britain] ETRS89 should be taken as synonymous with WGS84"
#: (they part by about 0.8 m in 2025, far below the 5 m this module exists to remove).
_WGS84_LIKE = {4326, 4258}
#: ETRS89 on the National Grid's transverse Mercator (GRS80 ellipsoid): the plane OSTN15's
#: shifts are tabulated on. Used only for positions that ``convert_bng`` refuses because its
#: lon/lat box (lat >= 49.922, lon <= 1.78) is narrower than the OSTN15 grid itself: the south
#: of the Isles of Scilly (St Agnes, 49.89 N) and the sea east of Lowestoft.
_ETRS89_TM = (
    "+proj=tmerc +lat_0=49 +lon_0=-2 +k=0.9996012717 +x_0=400000 +y_0=-100000 "
    "+ellps=GRS80 +units=m +no_defs"
)


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


@lru_cache(maxsize=64)
def _transformer(src: CRS | int | str, dst: CRS | int | str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


@lru_cache(maxsize=64)
def _kind_of(crs: CRS) -> str | None:
    epsg = crs.to_epsg()
    if epsg == settings.BNG_EPSG:
        return "bng"
    if epsg in _WGS84_LIKE or crs.to_authority() == ("OGC", "CRS84"):
        return "wgs84"
    return None


def _kind(crs: CRS | int | str) -> str | None:
    """'wgs84', 'bng' or None (any other CRS) for a CRS given in any form pyproj accepts."""
    if isinstance(crs, int):
        return "bng" if crs == settings.BNG_EPSG else "wgs84" if crs in _WGS84_LIKE else None
    return _kind_of(CRS.from_user_input(crs))


def _flat(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    return np.ascontiguousarray(a).ravel(), np.ascontiguousarray(b).ravel(), a.shape


def _helmert_fallback(
    src: int, dst: int, a: np.ndarray, b: np.ndarray, miss: np.ndarray, out: tuple
) -> None:
    """Fill ``out`` where ``miss`` with pyproj's (Helmert) transformation, and say so."""
    n = int(miss.sum())
    log.info(
        "%d of %d positions lie outside OS's OSTN15 grid: converted EPSG:%d -> EPSG:%d with "
        "the national Helmert instead (good to about 5 m in Great Britain, cruder beyond).",
        n,
        miss.size,
        src,
        dst,
    )
    x, y = _transformer(src, dst).transform(a[miss], b[miss])
    out[0][miss], out[1][miss] = x, y


def wgs84_to_bng(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 (ETRS89) lon/lat to British National Grid easting/northing with OS's OSTN15.

    Parameters
    ----------
    lon, lat
        Degrees, arrays of any (broadcastable) shape.

    Returns
    -------
    easting, northing
        Metres, rounded to the millimetre as OS does. A non-finite input gives NaN. A position
        outside the OSTN15 grid (e.g. the Channel Islands, or far from Britain) is converted
        with pyproj's Helmert instead (logged at INFO with the count), so it is never NaN.
    """
    lon, lat, shape = _flat(lon, lat)
    e, n = convert_bng(lon, lat)
    miss = np.isnan(e) & np.isfinite(lon) & np.isfinite(lat)
    if miss.any():
        # convert_bng's lon/lat box is narrower than the grid: project to the ETRS89 plane
        # ourselves and apply the OSTN15 shift there.
        tx, ty = _transformer(settings.WGS84_EPSG, _ETRS89_TM).transform(lon[miss], lat[miss])
        e[miss], n[miss] = convert_etrs89_to_osgb36(tx, ty)
        miss &= np.isnan(e)
        if miss.any():
            _helmert_fallback(settings.WGS84_EPSG, settings.BNG_EPSG, lon, lat, miss, (e, n))
    return e.reshape(shape), n.reshape(shape)


def bng_to_wgs84(easting: np.ndarray, northing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """British National Grid easting/northing to WGS84 (ETRS89) lon/lat with OS's OSTN15.

    Parameters
    ----------
    easting, northing
        Metres, arrays of any (broadcastable) shape.

    Returns
    -------
    lon, lat
        Degrees (to about 1e-8, a millimetre). A non-finite input gives NaN; a position
        outside the OSTN15 grid falls back on pyproj's Helmert, as in :func:`wgs84_to_bng`.
    """
    e, n, shape = _flat(easting, northing)
    lon, lat = convert_lonlat(e, n)
    miss = np.isnan(lon) & np.isfinite(e) & np.isfinite(n)
    if miss.any():
        _helmert_fallback(settings.BNG_EPSG, settings.WGS84_EPSG, e, n, miss, (lon, lat))
    return lon.reshape(shape), lat.reshape(shape)


def transform_xy(
    src: CRS | int | str, dst: CRS | int | str, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinate arrays from ``src`` to ``dst`` (x = lon/easting, y = lat/northing).

    WGS84 (EPSG:4326, ETRS89 EPSG:4258, OGC:CRS84) <-> BNG (EPSG:27700) uses OSTN15
    (:func:`wgs84_to_bng`, :func:`bng_to_wgs84`); every other pair uses pyproj.
    """
    pair = (_kind(src), _kind(dst))
    if pair == ("wgs84", "bng"):
        return wgs84_to_bng(x, y)
    if pair == ("bng", "wgs84"):
        return bng_to_wgs84(x, y)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    px, py = _transformer(src, dst).transform(x, y)
    return np.asarray(px), np.asarray(py)


def lonlat_to(crs: CRS | int, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS84 lon/lat arrays to ``crs`` (OSTN15 when ``crs`` is BNG)."""
    return transform_xy(settings.WGS84_EPSG, crs, lon, lat)


def to_lonlat(crs: CRS | int, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project arrays in ``crs`` to WGS84 lon/lat (OSTN15 when ``crs`` is BNG)."""
    return transform_xy(crs, settings.WGS84_EPSG, x, y)


def to_crs(obj: GeoT, crs: CRS | int | str) -> GeoT:
    """``obj.to_crs(crs)`` for a GeoDataFrame or GeoSeries, with OSTN15 for WGS84 <-> BNG.

    Every vertex of the active geometry is converted with :func:`transform_xy`; Z values are
    kept as they are. Any other pair of CRSs (and an object without a CRS, which geopandas
    rejects with its own message) is handed to geopandas' ``to_crs`` unchanged.
    """
    dst = CRS.from_user_input(crs)
    if obj.crs is None:
        return obj.to_crs(dst)
    pair = (_kind(obj.crs), _kind(dst))
    if pair == ("wgs84", "bng"):
        fn: Callable = wgs84_to_bng
    elif pair == ("bng", "wgs84"):
        fn = bng_to_wgs84
    else:
        return obj.to_crs(dst)

    def convert(coords: np.ndarray) -> np.ndarray:
        out = coords.copy()
        out[:, 0], out[:, 1] = fn(coords[:, 0], coords[:, 1])
        return out

    geoms = np.asarray(obj.geometry.values, dtype=object)
    moved = shapely.transform(geoms, convert, include_z=bool(shapely.has_z(geoms).any()))
    series = gpd.GeoSeries(moved, index=obj.index, crs=dst, name=obj.geometry.name)
    if isinstance(obj, gpd.GeoSeries):
        series.name = obj.name
        return series
    out = obj.copy()
    out[obj.geometry.name] = series
    return out.set_crs(dst, allow_override=True)
