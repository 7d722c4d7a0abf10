"""The verbs of the command line, each printing a short human summary."""

from __future__ import annotations

import argparse

from geo.dataset import Dataset
from geo.errors import InputError


def _not_yet(verb: str) -> int:
    raise InputError(f"'{verb}' is not available in this version yet.")


def coverage(args: argparse.Namespace, ds: Dataset) -> int:
    """Need covered within T minutes."""
    return _not_yet("coverage")


def gaps(args: argparse.Namespace, ds: Dataset) -> int:
    """Clusters of uncovered need."""
    return _not_yet("gaps")


def hotspots(args: argparse.Namespace, ds: Dataset) -> int:
    """Hotspots of need."""
    return _not_yet("hotspots")


def plan(args: argparse.Namespace, ds: Dataset) -> int:
    """New satellite sites."""
    return _not_yet("plan")
