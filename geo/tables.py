"""Read a user file (CSV, XLSX, GeoJSON, GeoPackage, ...) into a frame, or fail clearly.

Messy files are read or refused, never misread: the delimiter is sniffed, a title row above
the header is skipped, stray Windows-1252 bytes are decoded and reported, and a row with more
values than the header (an unquoted comma) is an error naming the row.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import logging
import math
import re
import threading
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from harmreach.geo.errors import InputError

log = logging.getLogger(__name__)

TABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xlsm"}
VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".fgb", ".gml", ".kml", ".zip"}
#: Files above this size are logged (at INFO) as they are read.
LARGE_FILE_BYTES = 10 * 1024 * 1024
#: A gzip file is read in memory only up to this size once decompressed.
MAX_DECOMPRESSED_BYTES = 2 * 1024**3
#: Values above this are not counts of people (more than the world population is a typo).
MAX_COUNT = 1e9
#: Rows searched for the header (title rows above it are skipped).
HEADER_SEARCH_ROWS = 30
_DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}


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

    def read_bytes(self) -> bytes:
        """The whole file."""
        return self.data if self.data is not None else self.path.read_bytes()  # type: ignore[union-attr]

    def head(self, n: int = 8) -> bytes:
        """The first ``n`` bytes (to recognise a format by its magic number)."""
        if self.data is not None:
            return self.data[:n]
        assert self.path is not None
        with self.path.open("rb") as fh:
            return fh.read(n)


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
        """One line for the CLI and the app (skipped rows, then notes on how it was read)."""
        text = f"{self.file}: {self.rows_used} of {self.rows_read} rows used"
        if self.skipped:
            shown = "; ".join(f"row {r}: {why}" for r, why in self.skipped[:5])
            more = f" (and {len(self.skipped) - 5} more)" if len(self.skipped) > 5 else ""
            text += f", {len(self.skipped)} skipped ({shown}{more})"
        if self.notes:
            text += "; note: " + "; ".join(self.notes)
        return text


def has_geometry(df: pd.DataFrame) -> np.ndarray:
    """Rows with a geometry that is neither missing nor empty (without geopandas' warnings)."""
    if not isinstance(df, gpd.GeoDataFrame):
        return np.zeros(len(df), dtype=bool)
    arr = np.asarray(df.geometry.values, dtype=object)
    return ~shapely.is_missing(arr) & ~shapely.is_empty(arr)


def column_key(name: object) -> str:
    """A column name for matching: lower case, without spaces, underscores or hyphens."""
    return re.sub(r"[\s_\-]+", "", str(name).strip().lower())


def read_frame(
    source: str | Path | Source,
    *,
    expect: Iterable[str] = (),
    sheet: str | None = None,
    layer: str | None = None,
    strict: bool = True,
) -> pd.DataFrame | gpd.GeoDataFrame:
    """Read a table or vector file; column names are stripped, data rows must exist.

    Parameters
    ----------
    source
        A path or an upload.
    expect
        Column names the caller looks for. The header is the first row (of the first 30)
        that holds one of them, so title rows above it are skipped; for a workbook, the
        sheet that holds them.
    sheet
        XLSX: the sheet to read (by name). Without it, a workbook with several sheets is
        read from the first sheet only if that sheet holds the expected columns.
    layer
        Vector files: the layer to read. Without it, a file with several layers is an error
        that lists them.
    strict
        CSV rows with more values than the header are an error (True), or are blanked and
        listed in ``attrs["bad_rows"]`` for the caller to skip and count (False).

    Returns
    -------
    pandas.DataFrame or geopandas.GeoDataFrame
        A GeoDataFrame for vector formats and a DataFrame of text (blank cells as None) for
        tables. Its index is the row number a user sees: the spreadsheet row for CSV/XLSX
        (the header is row 1 when it is on the first line) and the feature number (from 1)
        for vector files. ``attrs["read_notes"]`` holds what the reader had to decide
        (encoding, delimiter, header row, decompression); ``attrs["bad_rows"]`` maps rows
        that could not be read to the reason.
    """
    src = Source.of(source)
    size = src.size()
    if size == 0:
        raise InputError("the file is empty.", file=src.name, fix="export it again with data.")
    if size > LARGE_FILE_BYTES:
        log.info("reading %s (%.1f MB)", src.name, size / 1e6)
    notes: list[str] = []
    src = _gunzip(src, notes)
    expect = list(expect)
    expect_keys = {column_key(e) for e in expect}
    suffix = src.suffix
    bad_rows: dict[int, str] = {}
    try:
        if suffix in {".csv", ".txt", ".tsv"} and src.head(4)[:4] == b"PK\x03\x04":
            raise InputError(
                "this is a zip or Excel file, not a CSV text file.",
                file=src.name,
                fix="if it is a spreadsheet, name it .xlsx; if it is a zip, unzip it first.",
            )
        if suffix in {".csv", ".txt", ".tsv"}:
            df = _read_csv(src, expect_keys, notes, bad_rows, strict)
        elif suffix in {".xlsx", ".xlsm"}:
            df = _read_xlsx(src, expect_keys, sheet, notes, list(expect))
        elif suffix in VECTOR_SUFFIXES:
            df = _read_vector(src, layer, notes)
        else:
            fix = "use CSV, XLSX, GeoJSON or GeoPackage (or a format GDAL reads)."
            if suffix in {".xls", ".ods", ".numbers"}:
                fix = "save it as .xlsx (Excel Workbook) or CSV UTF-8, then try again."
            raise InputError(
                f"unsupported file type '{suffix or '(none)'}'.", file=src.name, fix=fix
            )
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is the user's file
        # GDAL names an upload after a temporary in-memory file: show the user's name.
        why = re.sub(r"/vsimem/\S+?(?=['\s:]|$)", src.name, str(exc).splitlines()[0])
        why = why.split("; It might help")[0]
        raise InputError(
            f"cannot read the file ({type(exc).__name__}: {why[:200]}).",
            file=src.name,
            fix="check that it is a valid file of its type (open it in a spreadsheet or QGIS).",
        ) from exc
    if len(df) == 0:
        vector = isinstance(df, gpd.GeoDataFrame)
        raise InputError(
            "the file has no features." if vector else "the file has a header but no data rows.",
            file=src.name,
            fix="add at least one " + ("feature." if vector else "row of data."),
        )
    if suffix not in {".csv", ".txt", ".tsv"}:  # text files were checked byte by byte
        _refuse_nul(df, src.name)
    if size > LARGE_FILE_BYTES:
        log.info("%s: %d rows read", src.name, len(df))
    for note in notes:
        log.info("%s: %s", src.name, note)
    df.attrs["read_notes"] = notes
    df.attrs["bad_rows"] = bad_rows
    return df


def read_notes(df: pd.DataFrame) -> list[str]:
    """What ``read_frame`` had to decide about a file (empty for ordinary files)."""
    return list(df.attrs.get("read_notes", []))


# --- gzip -------------------------------------------------------------------------------


def _gunzip(src: Source, notes: list[str]) -> Source:
    """Decompress a gzip file in memory (``sites.csv.gz``, or gzip bytes under any name)."""
    if src.head(2) != b"\x1f\x8b":
        return src
    inner = src.name[:-3] if src.name.lower().endswith(".gz") else src.name
    if Path(inner).suffix.lower() not in TABLE_SUFFIXES | VECTOR_SUFFIXES:
        raise InputError(
            "this is a gzip file, and the file inside has no known type.",
            file=src.name,
            fix="unzip it first (e.g. with 7-Zip) and give the file inside.",
        )
    out = io.BytesIO()
    try:
        with gzip.open(src.handle(), "rb") as gz:
            while chunk := gz.read(1 << 20):
                out.write(chunk)
                if out.tell() > MAX_DECOMPRESSED_BYTES:
                    raise InputError(
                        "this gzip file is too large to read once decompressed.",
                        file=src.name,
                        fix="unzip it first and give the file inside.",
                    )
    except (OSError, EOFError) as exc:
        raise InputError(
            f"this is a gzip file, but it is damaged ({exc}).",
            file=src.name,
            fix="unzip it first (e.g. with 7-Zip) and give the file inside.",
        ) from exc
    notes.append(f"this is a gzip file; read {Path(inner).name} from inside it")
    return Source(name=inner, data=out.getvalue())


# --- text files ---------------------------------------------------------------------------

_STRAY = threading.local()


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Decode a byte that is not UTF-8 as Windows-1252 (Latin-1 where cp1252 has a gap)."""
    assert isinstance(exc, UnicodeDecodeError)
    bad = exc.object[exc.start : exc.start + 1]
    _STRAY.positions.append(exc.start)
    try:
        return bad.decode("cp1252"), exc.start + 1
    except UnicodeDecodeError:
        return bad.decode("latin-1"), exc.start + 1


codecs.register_error("harmreach-cp1252", _cp1252_fallback)


def decode_text(raw: bytes, name: str, notes: list[str]) -> str:
    """Bytes to text: UTF-8 (with or without BOM), UTF-16 with a BOM; stray bytes as cp1252.

    A file that is all UTF-8 is decoded exactly. Bytes that are not valid UTF-8 (typically
    '£' or 'é' saved by Excel as Windows-1252) are decoded one by one as cp1252, so the
    UTF-8 text around them is kept, and the note says how many and on which rows.
    NUL bytes are refused (they truncate names and usually mean a UTF-16 or binary file).
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        notes.append("decoded as UTF-16 (a 'Unicode Text' export)")
        return raw.decode("utf-16")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        n = raw.count(b"\x00")
        raise InputError(
            f"this row contains a NUL byte (an invisible \\x00 character; {n} in the file), "
            "which would cut text short.",
            file=name,
            row=line,
            fix="this is not plain UTF-8 text: open it in a spreadsheet and save it as "
            "'CSV UTF-8', or remove the \\x00 characters.",
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    _STRAY.positions = []
    text = raw.decode("utf-8", errors="harmreach-cp1252")
    positions = _STRAY.positions
    lines = sorted({raw.count(b"\n", 0, p) + 1 for p in positions})
    shown = ", ".join(str(r) for r in lines[:5]) + (" …" if len(lines) > 5 else "")
    chars = "".join(sorted({raw[p : p + 1].decode("cp1252", errors="replace") for p in positions}))
    notes.append(
        f"{len(positions)} byte(s) on line(s) {shown} were not UTF-8 and were read as "
        f"Windows-1252 ('{chars[:10]}'); check those names, and save the file as "
        "'CSV UTF-8' to be sure"
    )
    return text


def sniff_delimiter(text: str) -> str:
    """The delimiter (comma, semicolon, tab or bar) that splits the first lines most evenly."""
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rfind("\n")]
    best, best_key = ",", None
    for order, d in enumerate(_DELIMITERS):
        try:
            counts = [len(r) for r in csv.reader(io.StringIO(sample), delimiter=d) if r][:50]
        except csv.Error:
            continue
        if not counts:
            continue
        width, freq = Counter(counts).most_common(1)[0]
        if width < 2:
            continue
        key = (freq / len(counts), width, -order)
        if best_key is None or key > best_key:
            best, best_key = d, key
    return best


def _blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _find_header(rows: list[list[str | None]], expect: set[str]) -> int:
    """Index of the header: the first row holding an expected name, else the first wide row."""
    sample = rows[:HEADER_SEARCH_ROWS]
    if expect:
        for k, cells in enumerate(sample):
            if any(column_key(c) in expect for c in cells if not _blank(c)):
                return k
    widths = [sum(not _blank(c) for c in cells) for cells in sample]
    widest = max(widths, default=0)
    for k, w in enumerate(widths):
        if w >= max(2, math.ceil(widest / 2)) or widest < 2:
            return k
    return 0


def _column_names(header: list[str | None]) -> list[str]:
    names: list[str] = []
    seen: Counter[str] = Counter()
    for i, cell in enumerate(header):
        name = "" if cell is None else str(cell).strip()
        name = name or f"Unnamed: {i}"
        if seen[name]:
            name_i = f"{name}.{seen[name]}"
        else:
            name_i = name
        seen[name] += 1
        names.append(name_i)
    return names


def _frame(
    records: list[tuple[int, list[str | None]]],
    expect: set[str],
    notes: list[str],
    *,
    name: str,
    delimiter: str | None,
    bad_rows: dict[int, str],
    strict: bool,
) -> pd.DataFrame:
    """Rows (with their spreadsheet row numbers) to a frame of text under the detected header."""
    if not records:
        raise InputError("the file is empty.", file=name, fix="export it again with data.")
    h = _find_header([cells for _, cells in records], expect)
    header_row, header = records[h]
    if h > 0:
        notes.append(f"the header is on row {header_row}; {h} row(s) above it were skipped")
    names = _column_names(header)
    ncol = len(names)
    data, index = [], []
    short = 0
    for row, cells in records[h + 1 :]:
        if not any(c and not c.isspace() for c in cells):
            continue
        if len(cells) > ncol:
            if any(not _blank(c) for c in cells[ncol:]):
                sep = _DELIMITER_NAMES.get(delimiter or "", "separator")
                why = (
                    f"this row has {len(cells)} values but the header has {ncol} columns "
                    f"(a value probably contains an unquoted {sep}, so the columns shift)"
                )
                if strict:
                    raise InputError(
                        why + ".",
                        file=name,
                        row=row,
                        fix='put double quotes around values that contain the separator (e.g. "'
                        'Boots, High Street"), or save the file from Excel as CSV, which quotes '
                        "them.",
                    )
                bad_rows[row] = why
                cells = [None] * ncol
            cells = cells[:ncol]
        elif len(cells) < ncol:
            short += 1
            cells = list(cells) + [None] * (ncol - len(cells))
        data.append([None if c == "" else c for c in cells])
        index.append(row)
    if short:
        notes.append(f"{short} row(s) have fewer values than the header; the rest read as blank")
    df = pd.DataFrame(data, columns=names, index=pd.Index(index, dtype=int), dtype=object)
    unnamed_empty = [c for c in names if c.startswith("Unnamed: ") and df[c].isna().all()]
    df = df.drop(columns=unnamed_empty)
    df.attrs["all_columns"] = names
    return df


def _read_csv(
    src: Source, expect: set[str], notes: list[str], bad_rows: dict[int, str], strict: bool
) -> pd.DataFrame:
    text = decode_text(src.read_bytes(), src.name, notes)
    if not text.strip():
        raise InputError("the file is empty.", file=src.name, fix="export it again with data.")
    # Excel's "sep=;" first line names the delimiter.
    hint = re.match(r"^\s*sep=(.)\s*?(\r\n|\n|\r)", text, re.I)
    first_line = 1
    if hint:
        delim = hint.group(1)
        text = text[hint.end() :]
        first_line = 2
    else:
        delim = "\t" if src.suffix == ".tsv" else sniff_delimiter(text)
    if delim != ",":
        name = _DELIMITER_NAMES.get(delim, f"'{delim}' character")
        notes.append(f"values are separated by {name}s")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    records: list[tuple[int, list[str | None]]] = []
    line = first_line - 1
    try:
        for cells in reader:
            start = line + 1
            line = reader.line_num + first_line - 1
            if cells:
                records.append((start, list(cells)))
    except csv.Error as exc:
        raise InputError(
            f"this row cannot be read as CSV ({exc}).",
            file=src.name,
            row=line + 1,
            fix='check for a quote (") that is never closed, or a value too long for a '
            "cell (over 131,072 characters).",
        ) from exc
    return _frame(
        records,
        expect,
        notes,
        name=src.name,
        delimiter=delim,
        bad_rows=bad_rows,
        strict=strict,
    )


# --- workbooks ---------------------------------------------------------------------------


def _cell_text(value: object) -> str | None:
    """A workbook cell as the text a CSV export would hold."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return, union-attr]
    return str(value)


def _sheet_rows(ws: object, limit: int | None = None) -> list[tuple[int, list[str | None]]]:
    """(Excel row number, cells) of the non-blank rows; stops after 1,000 blank rows."""
    rows: list[tuple[int, list[str | None]]] = []
    blank_run = 0
    for r, values in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):  # type: ignore[attr-defined]
        cells = [_cell_text(v) for v in values]
        while cells and _blank(cells[-1]):
            cells.pop()
        if not cells:
            blank_run += 1
            if blank_run > 1000:
                break
            continue
        blank_run = 0
        rows.append((r, cells))
        if limit is not None and len(rows) >= limit:
            break
    return rows


def _has_formulas(src: Source) -> bool:
    with zipfile.ZipFile(src.handle()) as z:
        for n in z.namelist():
            if n.startswith("xl/worksheets/") and n.endswith(".xml"):
                with z.open(n) as fh:
                    if re.search(rb"<(?:\w+:)?f[ >]", fh.read()):
                        return True
    return False


def _read_xlsx(
    src: Source, expect: set[str], sheet: str | None, notes: list[str], expect_names: list[str]
) -> pd.DataFrame:
    import openpyxl

    with warnings.catch_warnings():
        # openpyxl warns about features it drops (data validation, styles): not the user's data.
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(src.handle(), read_only=True, data_only=True)
    try:
        names = wb.sheetnames
        listed = ", ".join(f"'{n}'" for n in names)
        if sheet is not None:
            if sheet not in names:
                raise InputError(
                    f"there is no sheet '{sheet}'; the workbook has sheets {listed}.",
                    file=src.name,
                    fix="name one of the sheets listed.",
                )
            chosen = sheet
        elif len(names) == 1 or not expect:
            chosen = names[0]
        else:
            holding = [
                n
                for n in names
                if any(
                    column_key(c) in expect
                    for _, cells in _sheet_rows(wb[n], HEADER_SEARCH_ROWS)
                    for c in cells
                    if not _blank(c)
                )
            ]
            if names[0] in holding:
                chosen = names[0]
            else:
                where = (
                    f" (sheet '{holding[0]}' has them)"
                    if len(holding) == 1
                    else (
                        f" (sheets {', '.join(repr(h) for h in holding)} have them)"
                        if holding
                        else ""
                    )
                )
                wanted = ", ".join(list(expect_names)[:3])
                raise InputError(
                    f"the first sheet '{names[0]}' has no header with the expected columns "
                    f"({wanted}, ...); "
                    f"the workbook has sheets {listed}{where}.",
                    file=src.name,
                    fix=f"choose the sheet to read (sheet='{(holding or names)[-1]}'; "
                    f'command line: --sheet "{(holding or names)[-1]}").',
                )
        if len(names) > 1:
            notes.append(f"read sheet '{chosen}' (the workbook has sheets {listed})")
        records = _sheet_rows(wb[chosen])
    finally:
        wb.close()
    df = _frame(
        records,
        expect,
        notes,
        name=src.name,
        delimiter=None,
        bad_rows={},
        strict=True,
    )
    if _has_formulas(src):
        _refuse_uncached_formulas(src, chosen, df, records)
    return df


def _refuse_uncached_formulas(
    src: Source, sheet: str, df: pd.DataFrame, records: list[tuple[int, list[str | None]]]
) -> None:
    """A formula cell with no saved value (written by a script, never opened in Excel)."""
    import openpyxl
    from openpyxl.utils import get_column_letter

    values = dict(records)
    rows = {int(r) for r in df.index}
    names = df.attrs.get("all_columns", list(df.columns))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(src.handle(), read_only=True, data_only=False)
    try:
        for r, cells in enumerate(wb[sheet].iter_rows(min_row=1, values_only=True), start=1):
            if r not in rows:
                continue
            for j, v in enumerate(cells):
                if not (isinstance(v, str) and v.startswith("=")):
                    continue
                cached = values[r][j] if j < len(values[r]) else None
                if cached is None:
                    raise InputError(
                        f"cell {get_column_letter(j + 1)}{r} holds a formula ({v[:40]}) "
                        "with no saved value.",
                        file=src.name,
                        row=r,
                        column=str(names[j]) if j < len(names) else None,
                        fix="open the file in Excel (or LibreOffice) and save it, so the "
                        "results are stored; or paste the values instead of the formulas.",
                    )
    finally:
        wb.close()


# --- vector files ---------------------------------------------------------------------------


def _refuse_geojson_nul(src: Source) -> None:
    """GDAL cuts a GeoJSON string at an escaped NUL character: find it before GDAL reads."""
    if src.suffix not in {".geojson", ".json"} or src.size() > 256 * 1024**2:
        return
    raw = src.read_bytes()
    if b"\\u0000" not in raw and b"\x00" not in raw:
        return
    row, column = None, None
    try:
        doc = json.loads(raw.decode("utf-8", errors="replace"))
        for i, feat in enumerate(doc.get("features", []), start=1):
            for key, value in (feat.get("properties") or {}).items():
                if isinstance(value, str) and "\x00" in value:
                    row, column = i, str(key)
                    break
            if row is not None:
                break
    except (ValueError, AttributeError):
        pass
    raise InputError(
        "a value contains a NUL character (\\u0000), which would cut the text short.",
        file=src.name,
        row=row,
        column=column,
        fix="remove the \\u0000 characters from the file and save it again.",
    )


def _read_vector(src: Source, layer: str | None, notes: list[str]) -> gpd.GeoDataFrame:
    import pyogrio

    _refuse_geojson_nul(src)

    target = src.path if src.data is None else src.data
    with warnings.catch_warnings():
        # GDAL warns about in-memory GeoPackages with a neutral extension: not the data.
        warnings.simplefilter("ignore", RuntimeWarning)
        layers = [(str(n), g) for n, g in pyogrio.list_layers(target)]
    all_names = [n for n, _ in layers]
    spatial = [n for n, g in layers if g is not None]
    listed = ", ".join(f"'{n}'" for n in all_names)
    if layer is not None:
        if layer not in all_names:
            raise InputError(
                f"there is no layer '{layer}'; the file has layers {listed}.",
                file=src.name,
                fix="name one of the layers listed.",
            )
    else:
        candidates = spatial or all_names
        if len(candidates) > 1:
            shown = ", ".join(f"'{n}'" for n in candidates)
            raise InputError(
                f"this file has {len(candidates)} layers ({shown}); which one to read is "
                "not clear.",
                file=src.name,
                fix=f"name the layer (layer='{candidates[-1]}'; command line: "
                f'--layer "{candidates[-1]}").',
            )
        # A single-layer file is read without naming it: for an upload, GDAL names the
        # layer after a temporary in-memory file that differs on every open.
        layer = candidates[0] if candidates and len(all_names) > 1 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        handle = src.path if src.data is None else io.BytesIO(src.data)
        gdf = gpd.read_file(handle, layer=layer) if layer else gpd.read_file(handle)
    if len(all_names) > 1:
        notes.append(f"read layer '{layer}' (the file has layers {listed})")
    gdf.columns = [str(c).strip() for c in gdf.columns]
    gdf.index = pd.RangeIndex(1, 1 + len(gdf))
    return gdf


def _refuse_nul(df: pd.DataFrame, name: str) -> None:
    """A NUL character in a text cell (it would truncate the name in a GeoPackage)."""
    for col in df.columns:
        if col == "geometry" or not (
            df[col].dtype == object or pd.api.types.is_string_dtype(df[col].dtype)
        ):
            continue
        hit = df[col].astype("string").str.contains("\x00", regex=False).fillna(False)
        if hit.any():
            row = int(hit[hit].index[0])
            raise InputError(
                f"a value contains a NUL byte (an invisible \\x00 character; {int(hit.sum())} "
                "such cells in this column).",
                file=name,
                row=row,
                column=str(col),
                fix="remove the \\x00 characters (retype the value) and save the file again.",
            )


# --- columns -------------------------------------------------------------------------------


def find_column(df: pd.DataFrame, *candidates: str) -> str | None:
    """The first column whose name matches a candidate, ignoring case, spaces and '_'/'-'."""
    keyed: dict[str, str] = {}
    for c in df.columns:
        keyed.setdefault(column_key(c), c)
    for cand in candidates:
        if column_key(cand) in keyed:
            return keyed[column_key(cand)]
    return None


def columns_found(df: pd.DataFrame) -> str:
    """The columns of a frame, for error messages."""
    cols = [c for c in df.columns if c != "geometry"]
    return ", ".join(cols) if cols else "(none)"


def numeric_column(
    df: pd.DataFrame,
    col: str,
    file: str,
    *,
    allow_negative: bool = False,
    required: bool = True,
    max_value: float = MAX_COUNT,
) -> pd.Series:
    """Parse a column as finite numbers; raise InputError naming the first bad row.

    Blank cells are an error when ``required`` (reported as blank, not 'nan'); text, ``inf``,
    ``nan`` and values above ``max_value`` (default 10^9, more people than live on Earth's
    largest continent) are always errors.
    """
    raw = df[col]
    text = raw.astype("string").str.strip()
    blank = text.isna() | (text == "")
    values = pd.to_numeric(text.mask(blank), errors="coerce").astype(float)
    if required and blank.any():
        row = int(blank[blank].index[0])
        raise InputError(
            f"the cell is blank ({int(blank.sum())} blank cells in this column).",
            file=file,
            row=row,
            column=col,
            fix="enter a number in every row (0 where there is none).",
        )
    notnum = values.isna() & ~blank
    if notnum.any():
        row = int(notnum[notnum].index[0])
        shown = text.loc[row]
        is_nan = str(shown).strip().lower() in {"nan", "na", "n/a", "null", "none"}
        raise InputError(
            f"'{shown}' is not a {'value' if is_nan else 'number'} ({int(notnum.sum())} such "
            "rows).",
            file=file,
            row=row,
            column=col,
            fix="use plain numbers (no units, commas or text) in this column.",
        )
    arr = values.to_numpy()
    with np.errstate(invalid="ignore"):
        infinite = np.isinf(arr)
        huge = ~infinite & (np.abs(arr) > max_value)
    if infinite.any():
        row = int(values.index[infinite][0])
        raise InputError(
            f"'{text.loc[row]}' is not a finite number ({int(infinite.sum())} such rows).",
            file=file,
            row=row,
            column=col,
            fix="use plain finite numbers in this column.",
        )
    if huge.any():
        row = int(values.index[huge][0])
        raise InputError(
            f"'{text.loc[row]}' is too large (more than {max_value:,.0f}; "
            f"{int(huge.sum())} such rows).",
            file=file,
            row=row,
            column=col,
            fix="check the value: it cannot be a count of people.",
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
    return values
