"""Read a user's need file: a per-area table, counts by partial postcode, or weighted points."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd

from harmreach.geo.errors import InputError
from harmreach.geo.postcodes import normalise_postcode, postcode_level
from harmreach.geo.tables import (
    Source,
    columns_found,
    find_column,
    has_geometry,
    numeric_column,
    read_frame,
    read_notes,
)

NEED_KINDS = ("per_area", "postcode_district", "postcode_sector", "points")


#: Names of an area-code column (besides ONS style ``LAD24CD``, ``LSOA11CD``, ...).
_CODE_NAMES = (
    "area_code",
    "code",
    "gss_code",
    "ons_code",
    "geography_code",
    "la_code",
    "lad_code",
    "areacd",
)
_ONS_CODE_RE = re.compile(r"^[A-Z]{2,6}\d{2}CD$", re.I)  # LAD24CD, WD23CD, LSOA11CD, ...
_VALUE_NAMES = ("need", "estimate", "prevalence", "value")
#: Column names that mark the header row of a need table.
_EXPECT = (
    *_CODE_NAMES,
    *_VALUE_NAMES,
    "count",
    "clients",
    "weight",
    "postcode_district",
    "postcode_sector",
    "district",
    "sector",
)


@dataclass
class NeedInput:
    """Validated need: its kind, and a table with a key column and a ``value`` column.

    ``per_area``: columns ``area_code``, ``value`` (codes in the areas' own spelling when
    the areas' codes were given to ``read_need``).
    ``postcode_district`` / ``postcode_sector``: columns ``postcode``, ``value``.
    ``points``: a GeoDataFrame with ``value`` (weights).
    ``notes`` says what the reader decided (the key column it chose, codes matching no
    area, the file's encoding); ``key_column`` is the file's column the table is keyed by.
    """

    kind: str
    table: pd.DataFrame
    file: str
    illustrative: bool = False
    notes: list[str] = field(default_factory=list)
    key_column: str | None = None

    @property
    def total(self) -> float:
        """Sum of the need values."""
        return float(self.table["value"].sum())


def _code_column_by_name(df: pd.DataFrame) -> str | None:
    return find_column(df, *_CODE_NAMES) or next(
        (c for c in df.columns if _ONS_CODE_RE.match(str(c).strip())), None
    )


def _code_column_by_values(
    df: pd.DataFrame, area_codes: set[str], skip: set[str]
) -> tuple[str | None, int]:
    """The column whose values match most of the area codes (case-insensitive)."""
    best, best_n = None, 0
    for c in df.columns:
        if c == "geometry" or c in skip:
            continue
        vals = df[c].astype("string").str.strip().str.upper()
        n = int(vals.isin(area_codes).fillna(False).sum())
        if n > best_n:
            best, best_n = c, n
    return best, best_n


def read_need(
    source: str | Source,
    area_codes: Iterable[str] | None = None,
    code_col: str | None = None,
    *,
    sheet: str | None = None,
    layer: str | None = None,
) -> NeedInput:
    """Read and validate need; the kind is detected from the columns.

    - per-area table: a column of area codes and ``need`` (or ``value``, ``estimate``,
      ``prevalence``). The code column is ``code_col`` when given; else the column whose
      values match ``area_codes`` (case-insensitive) when those are given; else one named
      like an area code (``area_code``, ``code``, ``LAD24CD``, ``LSOA11CD``, ...);
    - client counts: ``postcode_district`` or ``postcode_sector``, and ``count``;
    - points with weights: a point geometry (or lon/lat) and ``weight`` (or ``need``/``count``).

    Parameters
    ----------
    source
        The need file (CSV, XLSX, GeoJSON, GeoPackage; path or upload).
    area_codes
        The codes of the study areas. With them, codes are matched case-insensitively and
        returned in the areas' spelling, and a table whose codes match no area is an error
        (rather than need that silently goes nowhere).
    code_col
        The column holding the area codes, when it cannot be detected (CLI ``--need-code``).
    sheet, layer
        The XLSX sheet or vector layer to read, when the file has several.
    """
    src = Source.of(source)
    expect = _EXPECT + ((code_col,) if code_col else ())
    df = read_frame(src, expect=expect, sheet=sheet, layer=layer)
    notes = read_notes(df)
    ill_c = find_column(df, "illustrative")
    illustrative = bool(
        ill_c and df[ill_c].astype("string").str.lower().isin(["true", "1", "yes"]).any()
    )
    need_c = find_column(df, *_VALUE_NAMES)
    dist_c = find_column(df, "postcode_district", "district")
    sec_c = find_column(df, "postcode_sector", "sector")
    count_c = find_column(df, "count", "clients", "n")
    polygons = isinstance(df, gpd.GeoDataFrame) and bool(
        df.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    )
    if has_geometry(df).any() and not polygons:
        w_c = find_column(df, "weight", "need", "count")
        if w_c is None:
            raise InputError(
                f"need points need a weight column; found: {columns_found(df)}.",
                file=src.name,
                fix="add a column 'weight' with the need at each point.",
            )
        if df.crs is None:
            raise InputError("the file declares no CRS.", file=src.name, fix="save with a CRS.")
        if not (df.geometry.geom_type == "Point").all():
            raise InputError(
                "need points must be points.",
                file=src.name,
                fix="use a point layer, or a per-area table (area code + need).",
            )
        values = numeric_column(df, w_c, src.name)
        table = gpd.GeoDataFrame({"value": values}, geometry=df.geometry, crs=df.crs)
        return NeedInput(
            "points", table.reset_index(names="source_row"), src.name, illustrative, notes
        )

    canon: dict[str, str] | None = None
    if area_codes is not None:
        canon = {}
        for code in area_codes:
            canon.setdefault(str(code).strip().upper(), str(code).strip())
    area_c: str | None = None
    matched_by_values = 0
    if code_col is not None:
        area_c = find_column(df, code_col)
        if area_c is None:
            raise InputError(
                f"column '{code_col}' not found; found: {columns_found(df)}.",
                file=src.name,
                fix="name one of the columns listed (--need-code).",
            )
    else:
        by_name = _code_column_by_name(df)
        if canon is not None:
            skip = {c for c in (need_c, count_c, ill_c) if c}
            by_value, matched_by_values = _code_column_by_values(df, set(canon), skip)
            area_c = by_value or by_name
            if by_value and by_value != by_name:
                notes.append(f"area codes read from column '{by_value}' (they match the areas)")
        else:
            area_c = by_name
    value_c = need_c or (count_c if area_c and not (sec_c or dist_c) else None)
    if area_c and (code_col is not None or matched_by_values > 0 or value_c):
        if value_c is None:
            raise InputError(
                f"the area codes are in column '{area_c}' but there is no need column; "
                f"found: {columns_found(df)}.",
                file=src.name,
                fix="add a column 'need' (or 'value') with the need in each area.",
            )
        return _per_area(df, area_c, value_c, canon, src.name, illustrative, notes)
    key_c = sec_c or dist_c
    if key_c and count_c:
        kind = "postcode_sector" if key_c == sec_c else "postcode_district"
        level = kind.split("_")[1]
        values = numeric_column(df, count_c, src.name)
        pcs = df[key_c].map(normalise_postcode)
        wrong = pcs.map(postcode_level) != level
        if wrong.any():
            row = int(wrong[wrong].index[0])
            raise InputError(
                f"'{df.loc[row, key_c]}' is not a postcode {level} ({int(wrong.sum())} such rows).",
                file=src.name,
                row=row,
                column=key_c,
                fix=f"use {'e.g. WR1 1' if level == 'sector' else 'e.g. WR1'} in this column.",
            )
        table = pd.DataFrame({"postcode": pcs, "value": values})
        table = table.groupby("postcode", as_index=False, sort=False)["value"].sum()
        return NeedInput(kind, table, src.name, illustrative, notes, key_c)
    if area_c:
        raise InputError(
            f"the area codes are in column '{area_c}' but there is no need column; "
            f"found: {columns_found(df)}.",
            file=src.name,
            fix="add a column 'need' (or 'value') with the need in each area.",
        )
    raise InputError(
        f"cannot tell what kind of need file this is; found: {columns_found(df)}.",
        file=src.name,
        fix="use an area-code column (e.g. area_code, LAD24CD) + need, "
        "postcode_district/postcode_sector + count, or points with a weight column; "
        "name the area-code column with --need-code if it is not detected.",
    )


def _per_area(
    df: pd.DataFrame,
    area_c: str,
    value_c: str,
    canon: dict[str, str] | None,
    file: str,
    illustrative: bool,
    notes: list[str],
) -> NeedInput:
    """A per-area need table, its codes in the areas' spelling when the areas are known."""
    values = numeric_column(df, value_c, file)
    codes = df[area_c].astype("string").str.strip()
    blank = (codes.isna() | (codes == "")).to_numpy(bool)
    if blank.any():
        row = int(codes.index[blank][0])
        raise InputError(
            f"the area code is blank ({int(blank.sum())} such rows).",
            file=file,
            row=row,
            column=area_c,
            fix="give every row the code of its area.",
        )
    if canon is not None:
        upper = codes.str.upper()
        hit = upper.isin(set(canon)).to_numpy(bool)
        if not hit.any():
            theirs = ", ".join(f"'{c}'" for c in codes.unique()[:3])
            ours = ", ".join(f"'{c}'" for c in list(canon.values())[:3])
            raise InputError(
                f"none of the {len(codes)} codes in column '{area_c}' match the areas' codes "
                f"(the file has {theirs}; the areas have {ours}).",
                file=file,
                column=area_c,
                fix="key the need table by the areas' codes (e.g. LAD24CD for districts), "
                "or name the right column with --need-code.",
            )
        codes = upper.map(canon).fillna(codes).astype("string")
        n_off = int((~hit).sum())
        if n_off:
            shown = ", ".join(f"'{c}'" for c in codes[~hit].unique()[:5])
            notes.append(
                f"{n_off} of {len(codes)} rows have codes that match no area ({shown}); "
                f"their need ({values[~hit].sum():,.1f}) is outside the study areas"
            )
    dup = codes.duplicated(keep=False).to_numpy(bool)
    if dup.any():
        row = int(codes.index[dup][1])
        raise InputError(
            f"area_code '{codes.loc[row]}' appears more than once.",
            file=file,
            row=row,
            column=area_c,
            fix="give one need value per area.",
        )
    table = pd.DataFrame({"area_code": codes, "value": values})
    return NeedInput(
        "per_area", table.reset_index(names="source_row"), file, illustrative, notes, area_c
    )
