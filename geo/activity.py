"""Read a needle & syringe programme activity file: what each site gave out, period by period.

One row per site and reporting period::

    site_id,period_start,period_end,transactions,syringes,returns
    PHA01,2024-04-01,2024-06-30,212,2140,1530

- ``site_id``: must match the sites file (when its ids are given to the reader).
- ``period_start``, ``period_end``: ISO dates (``YYYY-MM-DD``), both days **included**
  (a quarter is ``2024-04-01`` to ``2024-06-30``, 91 days). Periods of one site must not
  overlap; gaps between them are allowed (those days are simply not covered).
- ``transactions``: visits (exchanges), a whole number.
- ``syringes``: needles/syringes given out; or ``packs`` with the syringes a pack holds,
  from the reader's ``syringes_per_pack`` argument or a ``syringes_per_pack`` column
  (default ``SYRINGES_PER_PACK``). Where both ``syringes`` and ``packs`` are present a row's
  ``syringes`` is used and ``packs`` fills its empty cells.
- ``returns`` (optional): used syringes returned.

Annualised per site: syringes a year = total syringes ÷ covered days × 365.25, where the
covered days are the days inside the site's periods.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harmreach.geo import settings
from harmreach.geo.errors import InputError
from harmreach.geo.tables import ReadReport, Source, columns_found, find_column, read_frame

#: The demo county's illustrative activity (``data/build_demo_activity.py``).
DEMO_ACTIVITY: Path = settings.DATA_DIR / "sites" / "activity.csv"
#: Syringes in one pack when a file gives ``packs`` and says nothing else. An assumption,
#: not a standard: pharmacy packs in English schemes commonly hold 10 syringes, but some
#: hold 4 or 5 and specialist services give out loose items. Set it to your scheme's.
SYRINGES_PER_PACK: float = 10.0
#: Days in an average year, for annualising.
DAYS_PER_YEAR: float = 365.25
#: Sites covered by fewer days than this get a note: a year annualised from a few weeks
#: is noisy (seasonal, holiday closures).
SHORT_COVER_DAYS: int = 90

#: Columns of the validated activity table.
ACTIVITY_COLUMNS = [
    "source_row",
    "site_id",
    "period_start",
    "period_end",
    "days",
    "transactions",
    "syringes",
    "returns",
]
#: Columns of the per-site summary (``annualise``).
SITE_ACTIVITY_COLUMNS = [
    "site_id",
    "periods",
    "first_day",
    "last_day",
    "covered_days",
    "transactions",
    "syringes",
    "returns",
    "transactions_per_year",
    "syringes_per_year",
    "returns_per_year",
    "return_rate",
]

_TRUE = {"true", "yes", "y", "1", "t"}
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T]00:00(?::00(?:\.0+)?)?)?$")
_DATE_FIX = "write dates as YYYY-MM-DD (e.g. 2025-03-31)."
#: Records a problem: (row, column, message, fix); the first problem of a row is kept.
Flag = Callable[[int, "str | None", str, str], None]


@dataclass
class ActivityInput:
    """Validated activity: one row per site and period (columns ``ACTIVITY_COLUMNS``).

    ``syringes`` already includes packs converted at ``syringes_per_pack`` (set when any
    row was given in packs). ``returns`` is NaN where not given.
    """

    table: pd.DataFrame
    file: str
    report: ReadReport
    illustrative: bool = False
    syringes_per_pack: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def total_syringes(self) -> float:
        """Syringes given out over all rows (not annualised)."""
        return float(self.table["syringes"].sum())

    def per_site(self) -> pd.DataFrame:
        """Per-site totals and annual rates (see ``annualise``)."""
        return annualise(self.table)

    def missing_sites(self, site_ids: list[str] | pd.Series | np.ndarray) -> list[str]:
        """Sites of a sites list that have no activity row (their supply is unknown)."""
        have = set(self.table["site_id"])
        return [str(s) for s in site_ids if str(s) not in have]


def annualise(table: pd.DataFrame) -> pd.DataFrame:
    """Per site: periods, covered days, totals and annual rates.

    Parameters
    ----------
    table
        Validated activity (``ActivityInput.table``): non-overlapping periods per site.

    Returns
    -------
    pandas.DataFrame
        One row per site (``SITE_ACTIVITY_COLUMNS``): ``covered_days`` (days inside its
        periods), ``transactions``/``syringes``/``returns`` (totals over those days),
        ``*_per_year`` = total ÷ covered days × 365.25, ``return_rate`` = returns ÷ syringes
        over the periods that report returns (NaN when none do).
    """
    g = table.groupby("site_id", sort=True)
    out = pd.DataFrame(
        {
            "periods": g.size(),
            "first_day": g["period_start"].min(),
            "last_day": g["period_end"].max(),
            "covered_days": g["days"].sum().astype(float),
            "transactions": g["transactions"].sum(),
            "syringes": g["syringes"].sum(),
            "returns": g["returns"].sum(min_count=1),
        }
    )
    per_year = DAYS_PER_YEAR / out["covered_days"]
    out["transactions_per_year"] = out["transactions"] * per_year
    out["syringes_per_year"] = out["syringes"] * per_year
    # Returns are annualised over the days of the periods that report them.
    with_ret = table[table["returns"].notna()]
    ret_days = with_ret.groupby("site_id")["days"].sum().reindex(out.index)
    ret_syr = with_ret.groupby("site_id")["syringes"].sum().reindex(out.index)
    out["returns_per_year"] = out["returns"] / ret_days * DAYS_PER_YEAR
    out["return_rate"] = np.where(ret_syr > 0, out["returns"] / ret_syr, np.nan)
    return out.reset_index(names="site_id")[SITE_ACTIVITY_COLUMNS]


def read_activity(
    source: str | Path | Source,
    *,
    site_ids: list[str] | pd.Series | np.ndarray | None = None,
    syringes_per_pack: float | None = None,
    strict: bool = True,
) -> ActivityInput:
    """Read and validate a site activity file (CSV or XLSX).

    Parameters
    ----------
    source
        Path or in-memory upload.
    site_ids
        The sites file's ``site_id`` values; an activity row for any other id is an error.
        Without them, ids are not checked.
    syringes_per_pack
        Syringes in a pack, for rows given in ``packs`` without a ``syringes_per_pack``
        column (default ``SYRINGES_PER_PACK``, 10).
    strict
        If True, the first bad row is an error; if False bad rows are skipped and listed in
        ``report`` (an overlapping period skips the later of the two).

    Returns
    -------
    ActivityInput
        The validated rows, the read report and notes (e.g. packs converted, short cover).

    Raises
    ------
    InputError
        Missing columns; unknown site ids; empty, non-numeric, negative or fractional
        counts; dates not in ISO form; an end before its start; overlapping periods of one
        site. The message names the file, the spreadsheet row and the column.
    """
    src = Source.of(source)
    df = read_frame(src)
    report = ReadReport(file=src.name, rows_read=len(df))
    if syringes_per_pack is not None and not (
        np.isfinite(syringes_per_pack) and syringes_per_pack > 0
    ):
        raise InputError(
            f"syringes per pack must be a positive number, not {syringes_per_pack:g}.",
            fix="give the number of syringes one pack holds (e.g. 10).",
        )
    pack_default = SYRINGES_PER_PACK if syringes_per_pack is None else float(syringes_per_pack)

    cols = {
        "site_id": find_column(df, "site_id", "site"),
        "period_start": find_column(df, "period_start", "start_date", "start"),
        "period_end": find_column(df, "period_end", "end_date", "end"),
        "transactions": find_column(df, "transactions", "visits"),
    }
    syr_c = find_column(df, "syringes", "needles_syringes")
    pack_c = find_column(df, "packs")
    per_pack_c = find_column(df, "syringes_per_pack", "pack_size")
    ret_c = find_column(df, "returns", "returned")
    missing = [k for k, v in cols.items() if v is None]
    if syr_c is None and pack_c is None:
        missing.append("syringes (or packs)")
    if missing:
        raise InputError(
            f"missing required column(s) {', '.join(missing)}; found: {columns_found(df)}.",
            file=src.name,
            fix="add the columns site_id, period_start, period_end, transactions and "
            "syringes (or packs); see the README, 'Site activity'.",
        )

    problems: dict[int, tuple[str | None, str, str]] = {}

    def flag(row: int, column: str | None, message: str, fix: str) -> None:
        problems.setdefault(int(row), (column, message, fix))

    ids = df[cols["site_id"]].astype("string").str.strip()
    for row in ids.index[ids.isna() | (ids == "")]:
        flag(row, cols["site_id"], "empty site_id.", "give the site_id of every row.")
    if site_ids is not None:
        known = {str(s).strip() for s in site_ids}
        for row in ids.index[ids.notna() & (ids != "") & ~ids.isin(known)]:
            flag(
                row,
                cols["site_id"],
                f"unknown site_id '{ids.loc[row]}': it is not in the sites file.",
                "use the site_id values of the sites file (or add the site to it).",
            )

    start = _dates(df, cols["period_start"], flag)
    end = _dates(df, cols["period_end"], flag)
    ok_dates = start.notna() & end.notna()
    for row in start.index[ok_dates & (end < start)]:
        flag(
            row,
            cols["period_end"],
            f"period ends ({end.loc[row].date()}) before it starts ({start.loc[row].date()}).",
            "check the dates (both days are included: a single day has start = end).",
        )

    transactions = _counts(df, cols["transactions"], flag, required=True)
    returns = (
        _counts(df, ret_c, flag, required=False) if ret_c else pd.Series(np.nan, index=df.index)
    )
    syringes = (
        _counts(df, syr_c, flag, required=pack_c is None)
        if syr_c
        else pd.Series(np.nan, index=df.index)
    )
    used_packs = pd.Series(False, index=df.index)
    if pack_c:
        packs = _counts(df, pack_c, flag, required=syr_c is None)
        per_pack = pd.Series(pack_default, index=df.index)
        if per_pack_c:
            given = _counts(df, per_pack_c, flag, required=False, whole=False)
            for row in given.index[given == 0]:
                flag(
                    row,
                    per_pack_c,
                    "a pack holds 0 syringes.",
                    "give the number of syringes one pack holds (e.g. 10).",
                )
            per_pack = given.fillna(pack_default)
        used_packs = syringes.isna() & packs.notna()
        syringes = syringes.where(~used_packs, packs * per_pack)
        if syr_c:
            both_empty = syringes.isna() & packs.isna()
            for row in both_empty.index[both_empty]:
                flag(
                    row,
                    syr_c,
                    "no syringes or packs given.",
                    "give the syringes (or packs) handed out in the period; 0 if none.",
                )

    # Overlapping periods of one site, among rows that are otherwise fine.
    good = ~df.index.isin(list(problems))
    frame = pd.DataFrame({"site_id": ids, "start": start, "end": end}, index=df.index)[
        good & ok_dates.to_numpy()
    ]
    frame = frame.assign(row=frame.index).sort_values(["site_id", "start", "row"])
    for _sid, g in frame.groupby("site_id", sort=False):
        latest_end = pd.NaT
        latest_row = -1
        for row, s, e in zip(g["row"], g["start"], g["end"], strict=True):
            if latest_row >= 0 and s <= latest_end:
                flag(
                    row,
                    cols["period_start"],
                    f"the period {s.date()} to {e.date()} of site '{ids.loc[row]}' overlaps "
                    f"row {latest_row} ({start.loc[latest_row].date()} to "
                    f"{end.loc[latest_row].date()}).",
                    "each day of a site may be reported once: merge or correct the periods "
                    "(both days are included, so the next quarter starts the day after).",
                )
                continue  # the earlier period stays the reference
            latest_end, latest_row = e, row

    if problems:
        rows_bad = sorted(problems)
        if strict:
            first = rows_bad[0]
            column, message, fix = problems[first]
            more = f" ({len(rows_bad) - 1} more rows have problems)" if len(rows_bad) > 1 else ""
            raise InputError(message + more, file=src.name, row=first, column=column, fix=fix)
        report.skipped = [(r, problems[r][1].rstrip(".")) for r in rows_bad]

    keep = ~df.index.isin(list(problems))
    if not keep.any():
        raise InputError(
            "no usable activity rows left after skipping bad rows.",
            file=src.name,
            fix="see the listed rows.",
        )
    table = pd.DataFrame(
        {
            "source_row": df.index.to_numpy(),
            "site_id": ids.astype(object).to_numpy(),
            "period_start": start.to_numpy(),
            "period_end": end.to_numpy(),
            "transactions": transactions.to_numpy(float),
            "syringes": syringes.to_numpy(float),
            "returns": returns.to_numpy(float),
        }
    )[keep].reset_index(drop=True)
    table["days"] = (table["period_end"] - table["period_start"]).dt.days.astype(int) + 1
    table = table[ACTIVITY_COLUMNS]

    notes: list[str] = []
    n_packs = int(used_packs[keep].sum())
    per_pack_used: float | None = None
    if n_packs:
        per_pack_used = pack_default
        how = (
            f"the '{per_pack_c}' column, else {pack_default:g}"
            if per_pack_c
            else f"{pack_default:g} syringes a pack"
        )
        notes.append(f"{n_packs} row(s) given in packs, converted to syringes at {how}.")
    cover = table.groupby("site_id")["days"].sum()
    short = cover[cover < SHORT_COVER_DAYS]
    if len(short):
        shown = ", ".join(f"{s} ({d} days)" for s, d in short.head(5).items())
        more = f" and {len(short) - 5} more" if len(short) > 5 else ""
        notes.append(
            f"{len(short)} site(s) report fewer than {SHORT_COVER_DAYS} days, so their "
            f"annual figure is extrapolated from a short period: {shown}{more}."
        )
    ill_c = find_column(df, "illustrative")
    illustrative = bool(
        ill_c and df[ill_c].astype("string").str.strip().str.lower().isin(_TRUE).any()
    )
    return ActivityInput(
        table=table,
        file=src.name,
        report=report,
        illustrative=illustrative,
        syringes_per_pack=per_pack_used,
        notes=notes,
    )


def _dates(df: pd.DataFrame, col: str, flag: Flag) -> pd.Series:
    """Parse ISO dates cell by cell (spreadsheet date cells are accepted as they are)."""
    out = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    for row, v in df[col].items():
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
            flag(row, col, "empty date.", _DATE_FIX)
            continue
        if isinstance(v, dt.datetime | pd.Timestamp):
            out.loc[row] = pd.Timestamp(v).normalize()
            continue
        if isinstance(v, dt.date):
            out.loc[row] = pd.Timestamp(v)
            continue
        text = str(v).strip()
        m = _ISO.match(text)
        try:
            if not m:
                raise ValueError
            out.loc[row] = pd.Timestamp(dt.date.fromisoformat(m.group(1)))
        except ValueError:
            flag(row, col, f"'{text}' is not a date in ISO form (YYYY-MM-DD).", _DATE_FIX)
    return out


def _counts(
    df: pd.DataFrame,
    col: str,
    flag: Flag,
    *,
    required: bool,
    whole: bool = True,
) -> pd.Series:
    """Parse a count column: numbers, not negative, whole; empty only when not required."""
    raw = df[col]
    text = raw.astype("string").str.strip()
    empty = raw.isna() | (text == "").fillna(True)
    values = pd.to_numeric(raw.where(~empty), errors="coerce").astype(float)
    for row in raw.index:
        if empty.loc[row]:
            if required:
                flag(row, col, "empty cell in a required column.", "give a number; 0 if none.")
            continue
        v = values.loc[row]
        if not np.isfinite(v):
            flag(
                row,
                col,
                f"'{raw.loc[row]}' is not a number.",
                "use plain numbers (no units, commas or text) in this column.",
            )
        elif v < 0:
            flag(
                row,
                col,
                f"negative value {v:g}.",
                "counts cannot be negative; correct the row.",
            )
        elif whole and v != np.floor(v):
            flag(
                row,
                col,
                f"{v:g} is not a whole number.",
                "counts of visits, syringes, packs and returns are whole numbers.",
            )
    return values.where(np.isfinite(values))
