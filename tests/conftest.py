"""Shared fixtures: small files written per test, synthetic grids, the postcode index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harmreach.geo.network import StreetNetwork, network_from_arrays
from harmreach.geo.postcodes import PostcodeIndex, get_index


@pytest.fixture(scope="session")
def postcode_index() -> PostcodeIndex:
    """The real Code-Point Open index (built into the user cache on first use)."""
    return get_index()


@pytest.fixture
def write(tmp_path: Path):
    """Write text to a file in a temporary folder and return its path."""

    def _write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        return p

    return _write


def grid_network(
    nx_: int, ny: int, spacing_m: float = 100.0, mode: str = "walk", seed: int | None = None
) -> StreetNetwork:
    """A rectangular street grid; with a seed, edge lengths are jittered (still ≥ spacing)."""
    ids = np.arange(nx_ * ny).reshape(ny, nx_)
    xs, ys = np.meshgrid(np.arange(nx_) * spacing_m, np.arange(ny) * spacing_m)
    xy = np.column_stack([xs.ravel(), ys.ravel()])
    u = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    v = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    length = np.full(len(u), spacing_m)
    if seed is not None:
        length = length * (1.0 + np.random.default_rng(seed).random(len(u)))
    return network_from_arrays(xy, u, v, length, mode=mode)


@pytest.fixture
def grid():
    """Factory for synthetic grid networks."""
    return grid_network
