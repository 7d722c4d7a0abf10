"""Read a table of people in treatment per area (for met need): ``area_code,in_treatment``.

The counts are people (e.g. NDTMS adults in treatment for opiates and/or crack in the
year). They identify people when small: whatever is published from them goes through the
disclosure rules; this reader only validates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harmreach.geo import settings
from harmreach.geo.errors import InputError
from harmreach.geo.tables import Source, columns_found, find_column, numeric_column, read_frame

#: The demo county's illustrative treatment counts (``data/build_demo_activity.py``).
DEMO_TREATMENT: Path = settings.DATA_DIR / "need" / "treatment.csv"

_TRUE = {"true", "yes", "y", "1", "t"}


@dataclass
class TreatmentInput:
    """Validated treatment counts: columns ``source_row``, ``area_code``, ``in_treatment``."""

    table: pd.DataFrame
    file: str
    illustrative: bool = False

    @property
    def by_area(self) -> pd.Series:
        """People in treatment, indexed by area code."""
        return self.table.set_index("area_code")["in_treatment"]


def read_treatment(
    source: str | Path | Source,
    *,
    area_codes: list[str] | pd.Series | np.ndarray | None = None,
) -> TreatmentInput:
    """Read and validate people in treatment per area.

    Parameters
    ----------
    source
        CSV or XLSX with ``area_code`` (or ``code``) and ``in_treatment`` (or
        ``treatment``, ``clients_in_treatment``).
    area_codes
        The areas' codes; a row for any other code is an error. Without them, codes are
        not checked.

    Raises
    ------
    InputError
        Missing columns, empty or repeated area codes, codes not among the areas,
        non-numeric, negative or fractional counts (file, row and column named).
    """
    src = Source.of(source)
    df = read_frame(src)
    area_c = find_column(df, "area_code", "code")
    count_c = find_column(df, "in_treatment", "treatment", "clients_in_treatment")
    if area_c is None or count_c is None:
        raise InputError(
            f"a treatment table needs area_code and in_treatment; found: {columns_found(df)}.",
            file=src.name,
            fix="give one row per area: area_code,in_treatment.",
        )
    codes = df[area_c].astype("string").str.strip()
    empty = codes.isna() | (codes == "").fillna(True)
    if empty.any():
        row = int(empty[empty].index[0])
        raise InputError(
            "empty area code.", file=src.name, row=row, column=area_c, fix="fill it in."
        )
    dup = codes.duplicated(keep=False)
    if dup.any():
        row = int(codes.index[dup.to_numpy()][1])
        raise InputError(
            f"area_code '{codes.loc[row]}' appears more than once.",
            file=src.name,
            row=row,
            column=area_c,
            fix="give one in_treatment count per area.",
        )
    if area_codes is not None:
        known = {str(c) for c in area_codes}
        unknown = ~codes.isin(known)
        if unknown.any():
            row = int(unknown[unknown].index[0])
            raise InputError(
                f"area_code '{codes.loc[row]}' is not one of the areas "
                f"({int(unknown.sum())} such rows).",
                file=src.name,
                row=row,
                column=area_c,
                fix="use the codes of the areas file (e.g. E07000234).",
            )
    values = numeric_column(df, count_c, src.name)
    frac = values != np.floor(values)
    if frac.any():
        row = int(frac[frac].index[0])
        raise InputError(
            f"{values.loc[row]:g} is not a whole number of people.",
            file=src.name,
            row=row,
            column=count_c,
            fix="give counts of people in treatment as whole numbers.",
        )
    ill_c = find_column(df, "illustrative")
    illustrative = bool(
        ill_c and df[ill_c].astype("string").str.strip().str.lower().isin(_TRUE).any()
    )
    table = pd.DataFrame(
        {
            "source_row": df.index.to_numpy(),
            "area_code": codes.to_numpy(object),
            "in_treatment": values.to_numpy(float),
        }
    )
    return TreatmentInput(table=table, file=src.name, illustrative=illustrative)
