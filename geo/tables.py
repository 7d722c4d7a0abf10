"""Read a user file (CSV, XLSX, GeoJSON, GeoPackage, ...) into a frame, or fail clearly."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo.errors import InputError

TABLE_SUFFIXES = {".csv", ".txt", ".xlsx", ".xlsm"}
VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".fgb", ".gml", ".kml", ".zip"}


@dataclass(frozen=True)
class Source:
    """A user file: a path on disk, or an upload (its name and bytes, read in memory)."""

    name: str
    path: Path | None = None
    data: bytes | None = None

    @classmethod
    def of(cls, obj: str | Path | Source) -> Source:
        """Wrap a path (or pass a Source through)."""
        if isinstance(obj, Source):
            return obj
        p = Path(obj)
        return cls(name=p.name, path=p)

    @property
    def suffix(self) -> str:
        """The file's extension, lower case."""
        return Path(self.name).suffix.lower()

    def size(self) -> int:
        """Size in bytes (raises InputError if a path does not exist)."""
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        if not self.path.exists():
            raise InputError(
                "file not found.", file=self.name, fix=f"check the path '{self.path}'."
            )
        if self.path.is_dir():
            raise InputError("this is a folder, not a file.", file=self.name)
        return self.path.stat().st_size

    def handle(self) -> Path | io.BytesIO:
        """A path or an in-memory buffer for readers."""
        return self.path if self.data is None else io.BytesIO(self.data)  # type: ignore[return-value]


@dataclass
class ReadReport:
    """What a reader did: rows read, rows used, and every row it skipped with the reason."""

    file: str
    rows_read: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def rows_used(self) -> int:
        """Rows that made it into the result."""
        return self.rows_read - len(self.skipped)

    def summary(self) -> str:
        """One line for the CLI and the app."""
        text = f"{self.file}: {self.rows_used} of {self.rows_read} rows used"
        if self.skipped:
            shown = "; ".join(f"row {r}: {why}" for r, why in self.skipped[:5])
            more = f" (and {len(self.skipped) - 5} more)" if len(self.skipped) > 5 else ""
            text += f", {len(self.skipped)} skipped ({shown}{more})"
        return text


def read_frame(source: str | Path | Source) -> pd.DataFrame | gpd.GeoDataFrame:
    """Read a table or vector file; column names are stripped, data rows must exist.

    Returns a GeoDataFrame for vector formats and a DataFrame for tables. Its index is the
    row number a user sees: the spreadsheet row for CSV/XLSX (header = row 1, so the first
    data row is row 2) and the feature number (from 1) for vector files.
    """
    src = Source.of(source)
    if src.size() == 0:
        raise InputError("the file is empty.", file=src.name, fix="export it again with data.")
    suffix = src.suffix
    try:
        if suffix in {".csv", ".txt"}:
            df = _read_csv(src)
            first_row = 2
        elif suffix in {".xlsx", ".xlsm"}:
            df = pd.read_excel(src.handle(), engine="openpyxl")
            first_row = 2
        elif suffix in VECTOR_SUFFIXES:
            df = gpd.read_file(src.handle())
            first_row = 1
        else:
            raise InputError(
                f"unsupported file type '{suffix or '(none)'}'.",
                file=src.name,
                fix="use CSV, XLSX, GeoJSON or GeoPackage (or a format GDAL reads).",
            )
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is the user's file
        raise InputError(
            f"cannot read the file ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}).",
            file=src.name,
            fix="check that it is a valid file of its type (open it in a spreadsheet or QGIS).",
        ) from exc
    df.columns = [str(c).strip() for c in df.columns]
    if len(df) == 0:
        raise InputError(
            "the file has a header but no data rows.",
            file=src.name,
            fix="add at least one row of data.",
        )
    df.index = pd.RangeIndex(first_row, first_row + len(df))
    return df


def _read_csv(src: Source) -> pd.DataFrame:
    raw = src.data if src.data is not None else src.path.read_bytes()  # type: ignore[union-attr]
    for enc in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1252 decodes nearly everything
        text = raw.decode("latin-1")
    if not text.strip():
        raise InputError("the file is empty.", file=src.name, fix="export it again with data.")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])


def find_column(df: pd.DataFrame, *candidates: str) -> str | None:
    """The first column whose name matches a candidate, ignoring case."""
    lower = {c.lower(): c for c in df.columns}
    for cand in candidates:
        if cand.lower() in lower:
            return lower[cand.lower()]
    return None


def columns_found(df: pd.DataFrame) -> str:
    """The columns of a frame, for error messages."""
    cols = [c for c in df.columns if c != "geometry"]
    return ", ".join(cols) if cols else "(none)"


def numeric_column(
    df: pd.DataFrame, col: str, file: str, *, allow_negative: bool = False, required: bool = True
) -> pd.Series:
    """Parse a column as numbers; raise InputError naming the first bad row."""
    raw = df[col]
    values = pd.to_numeric(raw, errors="coerce")
    # An empty cell is an error only when the column is required.
    bad = values.isna() if required else (values.isna() & raw.notna())
    if bad.any():
        row = int(bad[bad].index[0])
        shown = raw.loc[row]
        raise InputError(
            f"'{shown}' is not a number ({int(bad.sum())} such rows).",
            file=file,
            row=row,
            column=col,
            fix="use plain numbers (no units, commas or text) in this column.",
        )
    if not allow_negative and (values < 0).any():
        neg = values < 0
        row = int(neg[neg].index[0])
        raise InputError(
            f"negative value {values.loc[row]:g} ({int(neg.sum())} such rows).",
            file=file,
            row=row,
            column=col,
            fix="counts and need cannot be negative; correct or remove these rows.",
        )
    return values.astype(float)
