"""Opening hours: OSM ``opening_hours`` text to weekly 15-minute masks, and sites open at a time."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import opening_hours as oh
import pandas as pd

from harmreach.geo.errors import InputError

SLOT_MIN = 15
SLOTS_PER_DAY = 24 * 60 // SLOT_MIN
SLOTS_PER_WEEK = 7 * SLOTS_PER_DAY
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: A week with no UK bank holiday, so ``PH`` rules never apply (public holidays are out of
#: scope: a weekly profile describes an ordinary week).
REFERENCE_MONDAY = dt.datetime(2024, 6, 10)

_DAY_ALIASES = {
    "mo": 0,
    "mon": 0,
    "monday": 0,
    "tu": 1,
    "tue": 1,
    "tues": 1,
    "tuesday": 1,
    "we": 2,
    "wed": 2,
    "wednesday": 2,
    "th": 3,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "thursday": 3,
    "fr": 4,
    "fri": 4,
    "friday": 4,
    "sa": 5,
    "sat": 5,
    "saturday": 5,
    "su": 6,
    "sun": 6,
    "sunday": 6,
}
_AT_RE = re.compile(r"^\s*([A-Za-z]+)\s+(\d{1,2})(?::(\d{2}))?\s*$")


def parse_hours(text: str) -> tuple[np.ndarray, list[str]]:
    """An OSM ``opening_hours`` string as a weekly mask of 15-minute slots (Mon 00:00 first).

    Uses the maintained Rust-backed ``opening-hours-py`` parser. A slot is open when the
    site is open at the slot's start. Times past midnight spill into the next day (Sunday
    night into Monday morning). Returns the mask and notes (e.g. public-holiday rules or
    comments that were ignored). Raises ValueError for text the parser rejects.
    """
    notes = []
    parsed = oh.OpeningHours(text)
    if "PH" in text:
        notes.append("public-holiday (PH) rules ignored: an ordinary week is assumed")
    if '"' in text:
        notes.append("comments ignored")
    mask = np.zeros(SLOTS_PER_WEEK, dtype=bool)
    # Start a day early so that a Sunday-night rule running past midnight reaches Monday.
    start = REFERENCE_MONDAY - dt.timedelta(days=1)
    for slot in range(SLOTS_PER_WEEK + SLOTS_PER_DAY):
        t = start + dt.timedelta(minutes=SLOT_MIN * slot)
        if parsed.is_open(t):
            mask[(slot - SLOTS_PER_DAY) % SLOTS_PER_WEEK] = True
    return mask, notes


def weekly_masks(
    sites: pd.DataFrame, *, assume_open_missing: bool = False
) -> tuple[np.ndarray, list[str]]:
    """(n_sites, 672) open masks; bad or missing hours are clear per-site errors.

    Parameters
    ----------
    sites
        With ``site_id``, ``name`` and ``opening_hours``.
    assume_open_missing
        Treat a site with no hours as always open (only when the user says so).
    """
    masks = np.zeros((len(sites), SLOTS_PER_WEEK), dtype=bool)
    notes: list[str] = []
    missing = []
    for i, (sid, name, text) in enumerate(
        zip(sites["site_id"], sites["name"], sites["opening_hours"], strict=True)
    ):
        if text is None or pd.isna(text) or not str(text).strip():
            if assume_open_missing:
                masks[i] = True
            else:
                missing.append(f"{sid} ({name})")
            continue
        try:
            masks[i], site_notes = parse_hours(str(text))
        except Exception as exc:  # noqa: BLE001 - the parser's own error type varies
            first = str(exc).strip().splitlines()[0]
            raise InputError(
                f"site {sid} ({name}): cannot read opening_hours '{text}' ({first}).",
                column="opening_hours",
                fix="use OpenStreetMap syntax, e.g. 'Mo-Fr 09:00-17:30; Sa 09:00-12:00'.",
            ) from exc
        notes += [f"site {sid}: {n}" for n in site_notes]
    if missing:
        raise InputError(
            f"{len(missing)} site(s) have no opening_hours: {', '.join(missing[:5])}"
            + (" …" if len(missing) > 5 else "")
            + ".",
            column="opening_hours",
            fix="add their hours, or treat them as always open (--assume-open in the CLI).",
        )
    return masks, notes


def parse_at(text: str) -> int:
    """``"Tue 19:00"`` → the week slot index (Mon 00:00 = 0)."""
    m = _AT_RE.match(text or "")
    day = _DAY_ALIASES.get(m.group(1).lower()) if m else None
    if m is None or day is None:
        raise InputError(
            f"cannot read the time of week '{text}'.",
            fix='write a day and a time, e.g. "Tue 19:00" or "Sun 03:00".',
        )
    hour, minute = int(m.group(2)), int(m.group(3) or 0)
    if hour > 23 or minute > 59:
        raise InputError(f"'{text}' is not a time of day.", fix='e.g. "Tue 19:00".')
    return day * SLOTS_PER_DAY + (hour * 60 + minute) // SLOT_MIN


def slot_label(slot: int) -> str:
    """Week slot index → ``"Tue 19:00"``."""
    day, rem = divmod(int(slot), SLOTS_PER_DAY)
    minutes = rem * SLOT_MIN
    return f"{DAYS[day]} {minutes // 60:02d}:{minutes % 60:02d}"


def open_at(sites: pd.DataFrame, at: str, *, assume_open_missing: bool = False) -> np.ndarray:
    """Which sites are open at a time of week (``"Tue 19:00"``)."""
    slot = parse_at(at)
    masks, _ = weekly_masks(sites, assume_open_missing=assume_open_missing)
    return masks[:, slot]
