"""Files the dashboard offers for download, built in memory from published results."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import geopandas as gpd

from harmreach.analysis import exports, publish
from harmreach.analysis.publish import Published


def gpkg_bytes(
    pub: Published,
    proposals: gpd.GeoDataFrame | None = None,
    hotspots: tuple | None = None,
) -> bytes:
    """Every layer the command line writes, plus the proposals, as GeoPackage bytes.

    ``hotspots`` is ``(cells, hotspots, same_surface)`` before disclosure control: they are
    published here by the gate, on top of the run. Written in a private temporary folder
    and read back into memory; the publication itself is not changed (it may be shared by
    the results cache).
    """
    out = copy.copy(pub)
    out.proposals = proposals if proposals is not None and len(proposals) else None
    if hotspots is not None:
        cells, hs, same = hotspots
        out.hotspot_cells, out.hotspots = publish.hotspot_layers(out, cells, hs, same_surface=same)
    with tempfile.TemporaryDirectory(prefix="harmreach-") as tmp:
        path = Path(tmp) / "harmreach.gpkg"
        exports.write_gpkg(path, out)
        return path.read_bytes()
