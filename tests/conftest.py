"""Shared fixtures: small files written per test, synthetic grids, the postcode index."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from harmreach.geo.network import StreetNetwork, network_from_arrays
from harmreach.geo.postcodes import PostcodeIndex, get_index


# Each test (and each module's and the session's fixtures) publishes on a register of its own:
# a test is a fresh machine, whatever ran before it (analysis/register.py). Autouse fixtures
# run before the other fixtures of their scope.
def _fresh_register(factory: pytest.TempPathFactory, name: str):  # noqa: ANN202
    old = os.environ.get("HARMREACH_REGISTER")
    os.environ["HARMREACH_REGISTER"] = str(factory.mktemp(name))
    yield
    if old is None:
        os.environ.pop("HARMREACH_REGISTER", None)
    else:
        os.environ["HARMREACH_REGISTER"] = old


@pytest.fixture(scope="session", autouse=True)
def _register_session(tmp_path_factory):  # noqa: ANN001, ANN202
    yield from _fresh_register(tmp_path_factory, "register_session")


@pytest.fixture(scope="module", autouse=True)
def _register_module(tmp_path_factory):  # noqa: ANN001, ANN202
    yield from _fresh_register(tmp_path_factory, "register_module")


@pytest.fixture(autouse=True)
def _register_test(tmp_path_factory):  # noqa: ANN001, ANN202
    yield from _fresh_register(tmp_path_factory, "register_test")


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
