"""An OSMnx-style networkx graph becomes a street network with the same shortest paths."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from scipy.sparse.csgraph import dijkstra

from harmreach.geo.errors import InputError
from harmreach.geo.osmnx_graph import network_from_graph


def _grid_graph(n: int = 6, spacing_m: float = 100.0) -> nx.MultiDiGraph:
    """A projected grid with OSMnx's attribute names; one street is one-way."""
    g = nx.MultiDiGraph(crs="EPSG:27700")
    for i in range(n):
        for j in range(n):
            g.add_node(i * n + j, x=400_000 + i * spacing_m, y=250_000 + j * spacing_m)
    for i in range(n):
        for j in range(n):
            a = i * n + j
            for b in ([a + 1] if j < n - 1 else []) + ([a + n] if i < n - 1 else []):
                one_way = a == 0 and b == 1
                g.add_edge(a, b, length=spacing_m, highway="residential", maxspeed="20 mph")
                if not one_way:
                    g.add_edge(b, a, length=spacing_m, highway="residential", maxspeed="20 mph")
    return g


def test_walk_times_equal_networkx_dijkstra() -> None:
    g = _grid_graph()
    net = network_from_graph(g, "walk")
    t = dijkstra(net.csgraph(), indices=[0, 17])
    for src in (0, 17):
        ref = nx.single_source_dijkstra_path_length(
            nx.Graph(g.to_undirected()), src, weight="length"
        )
        for node, metres in ref.items():
            # 4.8 km/h walking; walkers ignore one-way streets.
            assert t[[0, 17].index(src), node] == pytest.approx(metres / (4.8 / 3.6), rel=1e-9)


def test_drive_keeps_one_way_and_maxspeed() -> None:
    g = _grid_graph()
    net = network_from_graph(g, "drive")
    t = dijkstra(net.csgraph(), indices=[0, 1])
    speed = 20 * 1.609344 * 0.85 / 3.6  # 20 mph at the settings' 85% of the limit, in m/s
    assert t[0, 1] == pytest.approx(100 / speed, rel=1e-6)
    # 1 → 0 is against the one-way street: round the block (3 edges).
    assert t[1, 0] == pytest.approx(300 / speed, rel=1e-6)


def test_wgs84_graph_is_projected() -> None:
    g = nx.MultiDiGraph(crs="EPSG:4326")
    g.add_node("a", x=-2.2207, y=52.1920)  # Worcester
    g.add_node("b", x=-2.2207, y=52.2010)  # about 1 km north
    g.add_edge("a", "b", length=1000.0)
    net = network_from_graph(g, "walk")
    d = np.hypot(*(net.node_xy[1] - net.node_xy[0]))
    assert 995 < d < 1005


def test_bad_graphs_are_refused() -> None:
    with pytest.raises(InputError, match="no nodes"):
        network_from_graph(nx.MultiDiGraph(), "walk")
    g = nx.MultiDiGraph()
    g.add_node(1, x=0.0, y=51.5)
    g.add_node(2, x=0.001, y=51.5)
    g.add_edge(1, 2)
    with pytest.raises(InputError, match="no 'length'"):
        network_from_graph(g, "walk")
