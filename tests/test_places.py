"""Any English area: areas by name, real residents, the need model, sites-only study areas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harmreach.geo import settings
from harmreach.geo.dataset import load_dataset
from harmreach.geo.errors import InputError
from harmreach.geo.places import build_place, resolve_area

# Census 2021 usual residents (ONS table TS001, published 28 June 2022), typed in from the
# publication: the independent truth the built-in residents table is checked against.
CENSUS_2021 = {
    "E08000025": 1_144_919,  # Birmingham
    "E08000018": 265_807,  # Rotherham
    "E06000039": 158_495,  # Slough
    "E06000015": 261_364,  # Derby
    "E08000003": 551_938,  # Manchester
    "E08000019": 556_521,  # Sheffield
    "E06000023": 472_465,  # Bristol
}
WORCESTERSHIRE_2021 = 603_676


@pytest.fixture(scope="module")
def tmp_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("places")


def test_resolve_names_codes_counties_and_lists() -> None:
    assert resolve_area("Rotherham")[0] == ("E08000018",)
    assert resolve_area("e08000018")[0] == ("E08000018",)
    assert resolve_area("derby")[0] == ("E06000015",)  # "City of Derby" in Code-Point Open
    assert resolve_area("City of Derby")[0] == ("E06000015",)
    codes, label = resolve_area("Worcestershire")
    assert codes == tuple(f"E0700023{i}" for i in range(4, 10)) and label == "Worcestershire"
    assert resolve_area("E10000034")[0] == codes
    assert resolve_area("Rotherham, Slough")[0] == ("E06000039", "E08000018")


def test_unknown_area_suggests_close_names() -> None:
    with pytest.raises(InputError, match="Did you mean Rotherham"):
        resolve_area("Rotherhm")
    with pytest.raises(InputError, match="not an English local authority"):
        resolve_area("Atlantis")


@pytest.mark.parametrize("code", sorted(CENSUS_2021))
def test_residents_match_census_2021_within_3_percent(code: str, tmp_cache: Path) -> None:
    place = build_place((code,), cache_dir=tmp_cache)
    total = place.demand["residents"].sum()
    assert abs(total / CENSUS_2021[code] - 1) < 0.03, (code, total)


def test_worcestershire_place_levels_and_need_in_national_range(tmp_cache: Path) -> None:
    place = build_place("Worcestershire", cache_dir=tmp_cache)
    assert len(place.districts) == 6 and len(place.wards) > 100 and len(place.lsoas) > 300
    # Every postcode unit of the county is a demand point, tagged at every level.
    assert place.demand["ward_code"].isin(place.wards["area_code"]).mean() > 0.99
    coded = place.demand[place.demand["lsoa11cd"] != ""]
    assert coded["lsoa11cd"].isin(place.lsoas["area_code"]).all()
    # Units newer than the May 2022 ONS lookup have no LSOA (and no residents): few.
    assert len(coded) / len(place.demand) > 0.97
    assert abs(place.demand["residents"].sum() / WORCESTERSHIRE_2021 - 1) < 0.03
    ds = load_dataset(area="Worcestershire")
    need = ds.need.total
    # England: 8.9 OCU per 1,000 aged 15-64 (2016/17), 62-66% of residents aged 15-64;
    # local rates run from about a third to about three times the national rate.
    national = 8.9 / 1000 * 0.64 * WORCESTERSHIRE_2021
    assert 0.33 * national < need < 3 * national, need
    assert ds.origins["need"].kind == "estimated"
    assert ds.origins["residents"].kind == "built in, real"
    assert "ILLUSTRATIVE" in ds.origins["sites"].__str__()  # the demo's sites serve it


def test_cached_build_is_fast_and_identical(tmp_cache: Path) -> None:
    a = build_place("Slough", cache_dir=tmp_cache)
    b = build_place("Slough", cache_dir=tmp_cache)
    assert b.timings["cached"] == 1.0
    pd.testing.assert_frame_equal(
        pd.DataFrame(a.demand.drop(columns="geometry")),
        pd.DataFrame(b.demand.drop(columns="geometry")),
    )
    assert a.wards["area_code"].tolist() == b.wards["area_code"].tolist()


def _sites_file(tmp_path: Path, district: str, n: int, name: str) -> Path:
    from harmreach.geo.postcodes import get_index

    units = get_index().units
    pcs = units.loc[units["district_code"] == district, "postcode"].sort_values()
    pick = pcs.iloc[np.linspace(0, len(pcs) - 1, n).astype(int)]
    df = pd.DataFrame(
        {
            "site_id": [f"S{i}" for i in range(n)],
            "name": [f"Pharmacy {i}" for i in range(n)],
            "type": "pharmacy",
            "postcode": pick.to_numpy(),
        }
    )
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("district", "label"), [("E08000018", "Rotherham"), ("E06000039", "Slough")]
)
def test_sites_only_picks_the_authority_holding_them(
    tmp_path: Path, district: str, label: str
) -> None:
    path = _sites_file(tmp_path, district, 8, "my_sites.csv")
    ds = load_dataset(sites=path)
    assert ds.place_label == label
    assert set(ds.areas["area_code"]) == {district}
    assert ds.origins["sites"].kind == "yours" and "my_sites.csv" in ds.origins["sites"].detail
    assert not ds.sites["illustrative"].any()
    assert ds.origins["need"].kind == "estimated"
    assert not any("Worcestershire" in line for line in ds.provenance())


def test_sites_only_far_site_is_counted_not_kept(tmp_path: Path) -> None:
    path = _sites_file(tmp_path, "E08000018", 10, "s.csv")
    df = pd.read_csv(path)
    df.loc[len(df)] = ["FAR", "Far away", "pharmacy", "TR18 4AA"]  # Penzance, Cornwall
    df.to_csv(path, index=False)
    ds = load_dataset(sites=path)
    assert set(ds.areas["area_code"]) == {"E08000018"}
    assert "FAR" not in set(ds.sites["site_id"])
    assert any("1 site(s) more than 10 km outside" in n and "FAR" in n for n in ds.notes)


def test_need_table_keyed_by_lsoa11cd(tmp_path: Path) -> None:
    place = build_place("Slough")
    lsoas = place.lsoas["area_code"].tolist()[:20]
    need = pd.DataFrame({"LSOA11CD": lsoas, "need": 10})
    path = tmp_path / "need.csv"
    need.to_csv(path, index=False)
    ds = load_dataset(area="Slough", need=path)
    from harmreach.analysis.need import need_surface

    surf = need_surface(ds.demand, ds.need)
    assert surf.need.sum() == pytest.approx(200.0)
    assert not surf.unplaced


def test_cli_area_runs_and_says_where_inputs_came_from() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "harmreach", "validate", "--area", "Derby"],
        capture_output=True,
        text=True,
        cwd=settings.REPO_ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "areas: built in, real (City of Derby" in out.stdout
    assert "need: estimated" in out.stdout
    assert "1,660 in treatment" in out.stdout  # the seed's published figure beside the model's


def test_need_model_by_hand() -> None:
    """Two units in one district: totals by rate × adults, split by deprivation weight."""
    import geopandas as gpd

    from harmreach.geo import need_model

    imd = pd.read_parquet(need_model.IMD_FILE)
    most = imd.loc[imd["imd_decile"] == 1, "lsoa11cd"].iloc[0]
    least = imd.loc[imd["imd_decile"] == 10, "lsoa11cd"].iloc[0]
    age = pd.read_csv(need_model.AGE_FILE, dtype={"code": str}).set_index("code")["share_15_64"]
    demand = gpd.GeoDataFrame(
        {
            "postcode": ["AA1 1AA", "AA1 1AB"],
            "residents": [1000.0, 1000.0],
            "district_code": ["E08000018", "E08000018"],
            "lsoa11cd": [most, least],
        },
        geometry=gpd.points_from_xy([0, 1], [0, 1]),
        crs=27700,
    )
    need, method = need_model.model_need(demand)
    adults = 2000 * age["E08000018"]
    total = adults * 9.51 / 1000
    # Weights 5 (most deprived decile) and 1 (least): 5/6 and 1/6 of the district's total.
    assert need.table["value"].tolist() == pytest.approx([total * 5 / 6, total / 6])
    assert "IMD 2019" in method and "9.51" in method
