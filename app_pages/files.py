"""Files the dashboard offers for download, built in memory from published results."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import geopandas as gpd

from analysis import exports
from analysis.publish import Published


def gpkg_bytes(pub: Published, proposals: gpd.GeoDataFrame | None = None) -> bytes:
    """Every layer the command line writes, plus the proposals, as GeoPackage bytes.

    Written in a private temporary folder and read back into memory; the publication
    itself is not changed (it may be shared by the results cache).
    """
    out = copy.copy(pub)
    out.proposals = proposals if proposals is not None and len(proposals) else None
    with tempfile.TemporaryDirectory(prefix="harmreach-") as tmp:
        path = Path(tmp) / "harmreach.gpkg"
        exports.write_gpkg(path, out)
        return path.read_bytes()
