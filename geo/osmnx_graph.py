"""Turn an OSMnx street graph (a networkx MultiDiGraph) into a harmreach street network.

Analysts in notebooks often already hold a graph from ``osmnx.graph_from_place``; this
reads it as it is (OSMnx's own attribute names: node ``x``/``y``, edge ``length`` in metres,
``highway``, ``maxspeed``; graph ``crs``) without importing osmnx itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyproj import CRS

from harmreach.geo import crs as crsmod
from harmreach.geo import settings
from harmreach.geo.errors import InputError
from harmreach.geo.network import StreetNetwork, drive_speeds_kph, network_from_arrays


def network_from_graph(
    graph: object, mode: str = "walk", crs: CRS | int | None = None
) -> StreetNetwork:
    """A :class:`StreetNetwork` from an OSMnx-style MultiDiGraph.

    Parameters
    ----------
    graph
        A networkx (Multi)DiGraph whose nodes have ``x``, ``y`` (in ``graph.graph['crs']``,
        WGS84 when absent) and whose edges have ``length`` (metres). Each directed edge
        u → v is traversable from u to v, as OSMnx builds them (two edges for two-way
        streets), so one-way streets are kept for driving.
    mode
        ``walk``, ``cycle`` or ``drive`` (drive speeds from ``maxspeed`` or ``highway``).
    crs
        Metric CRS for the analysis (default British National Grid).

    Raises
    ------
    InputError
        If the graph has no nodes, or nodes without coordinates, or edges without length.
    """
    nodes = list(graph.nodes(data=True))  # type: ignore[attr-defined]
    if not nodes:
        raise InputError("the street graph has no nodes.", fix="pass a graph with streets.")
    index = {n: i for i, (n, _) in enumerate(nodes)}
    try:
        xy = np.array([[float(d["x"]), float(d["y"])] for _, d in nodes])
    except (KeyError, TypeError, ValueError):
        raise InputError(
            "graph nodes need numeric 'x' and 'y' attributes (as OSMnx gives them).",
            fix="build the graph with osmnx, or add x/y to every node.",
        ) from None
    src_crs = CRS.from_user_input(getattr(graph, "graph", {}).get("crs", settings.WGS84_EPSG))
    target = CRS.from_user_input(crs or settings.BNG_EPSG)
    if src_crs != target:
        # OSTN15 for OSMnx's usual WGS84 -> BNG (pyproj alone is a ~5 m Helmert here).
        xy = np.column_stack(crsmod.transform_xy(src_crs, target, xy[:, 0], xy[:, 1]))
    rows = []
    for a, b, d in graph.edges(data=True):  # type: ignore[attr-defined]
        if "length" not in d:
            raise InputError(
                f"edge {a} → {b} has no 'length'.",
                fix="add edge lengths in metres (osmnx does this by default).",
            )
        hw = d.get("highway", "")
        ms = d.get("maxspeed")
        rows.append(
            (
                index[a],
                index[b],
                float(d["length"]),
                hw[0] if isinstance(hw, list) else hw,
                ms[0] if isinstance(ms, list) else ms,
            )
        )
    if not rows:
        raise InputError("the street graph has no edges.", fix="pass a graph with streets.")
    e = pd.DataFrame(rows, columns=["u", "v", "length_m", "highway", "maxspeed"])
    speed = drive_speeds_kph(e["highway"], e["maxspeed"]) if mode == "drive" else None
    return network_from_arrays(
        xy,
        e["u"].to_numpy(),
        e["v"].to_numpy(),
        e["length_m"].to_numpy(),
        mode=mode,
        speed_kph=speed,
        oneway=np.ones(len(e), dtype=np.int8),
        crs=target,
        source="OSMnx graph",
    )
