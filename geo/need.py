"""Read a user's need file: a per-area table, counts by partial postcode, or weighted points."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from geo.errors import InputError
from geo.postcodes import normalise_postcode, postcode_level
from geo.tables import Source, columns_found, find_column, numeric_column, read_frame

NEED_KINDS = ("per_area", "postcode_district", "postcode_sector", "points")


@dataclass
class NeedInput:
    """Validated need: its kind, and a table with a key column and a ``value`` column.

    ``per_area``: columns ``area_code``, ``value``.
    ``postcode_district`` / ``postcode_sector``: columns ``postcode``, ``value``.
    ``points``: a GeoDataFrame with ``value`` (weights).
    """

    kind: str
    table: pd.DataFrame
    file: str
    illustrative: bool = False

    @property
    def total(self) -> float:
        """Sum of the need values."""
        return float(self.table["value"].sum())


def read_need(source: str | Source) -> NeedInput:
    """Read and validate need; the kind is detected from the columns.

    - per-area table: ``area_code`` and ``need``;
    - client counts: ``postcode_district`` or ``postcode_sector``, and ``count``;
    - points with weights: a point geometry (or lon/lat) and ``weight`` (or ``need``/``count``).
    """
    src = Source.of(source)
    df = read_frame(src)
    ill_c = find_column(df, "illustrative")
    illustrative = bool(
        ill_c and df[ill_c].astype("string").str.lower().isin(["true", "1", "yes"]).any()
    )
    area_c = find_column(df, "area_code", "code")
    need_c = find_column(df, "need", "estimate", "prevalence")
    dist_c = find_column(df, "postcode_district", "district")
    sec_c = find_column(df, "postcode_sector", "sector")
    count_c = find_column(df, "count", "clients", "n")
    if isinstance(df, gpd.GeoDataFrame) and df.geometry.notna().any():
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
            raise InputError("need points must be points.", file=src.name)
        values = numeric_column(df, w_c, src.name)
        table = gpd.GeoDataFrame({"value": values}, geometry=df.geometry, crs=df.crs)
        return NeedInput("points", table.reset_index(names="source_row"), src.name, illustrative)
    if area_c and need_c:
        values = numeric_column(df, need_c, src.name)
        codes = df[area_c].astype("string").str.strip()
        dup = codes.duplicated(keep=False)
        if dup.any():
            row = int(codes.index[dup.to_numpy()][1])
            raise InputError(
                f"area_code '{codes.loc[row]}' appears more than once.",
                file=src.name,
                row=row,
                column=area_c,
                fix="give one need value per area.",
            )
        table = pd.DataFrame({"area_code": codes, "value": values})
        return NeedInput("per_area", table.reset_index(names="source_row"), src.name, illustrative)
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
        return NeedInput(kind, table, src.name, illustrative)
    raise InputError(
        f"cannot tell what kind of need file this is; found: {columns_found(df)}.",
        file=src.name,
        fix="use area_code + need, postcode_district/postcode_sector + count, "
        "or points with a weight column.",
    )
