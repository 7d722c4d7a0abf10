"""Words and numbers as the dashboard shows them (pure functions, tested without a browser)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from app_pages.safe import plain_markdown
from harmreach.analysis.hours import DAYS
from harmreach.analysis.planning import SitePlan
from harmreach.analysis.publish import count_text, share_text


def pct(x: float | None) -> str:
    """A published share as a percentage (``hidden`` when the gate did not publish it)."""
    return share_text(x)


def num(x: float | None) -> str:
    """A published count (``hidden`` when the gate did not publish it)."""
    return count_text(x)


def km(x: float | None) -> str:
    """A distance in km (one decimal), or a dash."""
    return "—" if x is None or not np.isfinite(x) else f"{x:.1f} km"


#: Command-line wording in messages, as the same thing is called in the dashboard.
CLI_TO_APP = {
    "--skip-bad-rows": 'the sidebar box "Skip bad site rows"',
    "--assume-open": "treating sites without hours as always open",
}


def app_message(text: str) -> str:
    """An input message as the dashboard says it: no command-line flags, shown as plain text."""
    for flag, words in CLI_TO_APP.items():
        text = text.replace(f"use {flag}", f"tick {words}").replace(flag, words)
    return plain_markdown(text)


def shortfall_text(sp: SitePlan | None, k: int) -> str | None:
    """Why fewer satellites were proposed than asked for (None when all were placed)."""
    if sp is None or len(sp.table) >= k:
        return None
    why = getattr(sp.result, "shortfall", None) or "; ".join(sp.result.notes)
    if not why:
        why = (
            "no other candidate brings any more need within reach: the need still beyond "
            "reach is too far from every remaining candidate, or already covered"
        )
    return (
        f"You asked for {k} satellite(s); {len(sp.table)} "
        f"{'is' if len(sp.table) == 1 else 'are'} proposed because {why}."
    )


def day_span(days: list[str]) -> str:
    """``['Mon', 'Tue', 'Wed']`` → ``Mon–Wed``; gaps in the run are listed."""
    idx = sorted(DAYS.index(d) for d in days)
    if len(idx) == 7:
        return "every day"
    runs, start = [], idx[0]
    for a, b in zip(idx, [*idx[1:], None], strict=True):
        if b != a + 1:
            runs.append(DAYS[start] if a == start else f"{DAYS[start]}–{DAYS[a]}")
            start = b
    return ", ".join(runs)


def worst_periods(overall: pd.DataFrame, n: int = 4) -> list[str]:
    """The week's worst stretches, each told once, e.g. "Mon–Fri 22:00–07:00 (overnight)".

    ``overall`` has one row per hour of the week (``day``, ``hour``, ``share_covered``
    (NaN where not published), ``sites_open``).

    Hours in week order (Monday 00:00 first, wrapping round from Sunday night) with the same
    share (to 0.1%) and number of sites open form a stretch; stretches at the same hours with
    the same share starting on several days are told together. Worst share first, then the
    most hours.
    """
    o = overall.copy()
    o["d"] = o["day"].map(DAYS.index)
    o = o.sort_values(["d", "hour"]).reset_index(drop=True)
    # hours the gate did not publish (NaN) form stretches of their own, never listed
    pct_ = (o["share_covered"] * 100).round(1).fillna(-1.0).to_numpy()
    open_ = o["sites_open"].to_numpy()
    m = len(o)
    if m == 0:
        return []
    same = (pct_ == np.roll(pct_, 1)) & (open_ == np.roll(open_, 1))
    if same.all():
        if pct_[0] < 0:
            return []
        return [f"all week: {pct_[0]:.1f}% ({open_[0]} site{'s' if open_[0] != 1 else ''} open)"]
    start0 = int(np.flatnonzero(~same)[0])  # a stretch starts here; wrap round from it
    runs, i = [], start0
    while True:
        j = i + 1
        while j < i + m and same[j % m]:
            j += 1
        runs.append((i % m, j - i))
        i = j
        if i >= start0 + m:
            break
    merged: dict[tuple, list[int]] = {}
    for first, length in runs:
        h0 = int(o["hour"].iloc[first])
        key = (h0, length, float(pct_[first]), int(open_[first]))
        merged.setdefault(key, []).append(int(o["d"].iloc[first]))
    items = sorted(
        ((k, v) for k, v in merged.items() if k[2] >= 0),
        key=lambda kv: (kv[0][2], -kv[0][1] * len(kv[1])),
    )
    out = []
    for (h0, length, share, n_open), days in items[:n]:
        h1 = (h0 + length) % 24
        span = f"{h0:02d}:00–{h1:02d}:00"
        if length >= 24:
            span += f" ({length // 24} day{'s' if length >= 48 else ''} {length % 24} h)"
        elif h0 + length > 24:
            span += " (overnight)"
        out.append(
            f"{day_span([DAYS[d] for d in days])} {span}: {share:.1f}% "
            f"({n_open} site{'s' if n_open != 1 else ''} open)"
        )
    return out


def closure_change(before: float | None, after: float | None) -> float | None:
    """Change in points between the shares as shown (one decimal), so 52.1% → 52.0% is -0.1."""
    if before is None or after is None or pd.isna(before) or pd.isna(after):
        return None
    return round(round(100 * after, 1) - round(100 * before, 1), 1)
