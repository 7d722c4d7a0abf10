"""The embedded demo county: what it promises in data/*/README.md holds."""

import pandas as pd

from harmreach.geo import settings
from harmreach.geo.dataset import load_dataset, read_demo_areas


def test_demo_dataset():
    ds = load_dataset()
    assert sorted(ds.areas["area_name"]) == [
        "Bromsgrove",
        "Malvern Hills",
        "Redditch",
        "Worcester",
        "Wychavon",
        "Wyre Forest",
    ]
    assert ds.areas.is_valid.all()
    assert len(ds.sites) == 31
    assert ds.sites["type"].value_counts().to_dict() == {
        "pharmacy": 21,
        "hospital": 5,
        "drug_service": 5,
    }
    assert ds.sites["illustrative"].all() and ds.illustrative["sites"]
    assert ds.sites["opening_hours"].notna().all()
    # every site inside the county
    county = ds.areas.union_all().buffer(1)
    assert ds.sites.within(county).all()
    # residents: the Census 2021 district totals, shared over the postcode units
    assert abs(ds.demand["residents"].sum() - 604_700) < 100
    # Code-Point Open's own district code agrees with the polygon the unit falls in
    agree = (ds.demand["district_code"] == ds.demand["area_code"]).mean()
    assert agree > 0.99
    assert any("ILLUSTRATIVE" in line for line in ds.provenance())


def test_demo_wards_cover_districts():
    wards = read_demo_areas("wards")
    districts = read_demo_areas("districts")
    assert len(wards) > 100
    assert abs(wards.area.sum() - districts.area.sum()) / districts.area.sum() < 1e-3


def test_demo_files_say_illustrative():
    sites = pd.read_csv(settings.DATA_DIR / "sites" / "sites.csv")
    assert sites["illustrative"].all()
    assert sites["name"].str.startswith("Illustrative").all()
    for sub in ("boundaries", "sites", "need"):
        text = (settings.DATA_DIR / sub / "README.md").read_text()
        assert "illustrative" in text.lower() or sub == "boundaries"
        assert "Licence" in text or "licence" in text
