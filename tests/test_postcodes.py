import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from harmreach.geo.postcodes import _codepoint_zip, normalise_postcode, postcode_level


@pytest.mark.parametrize(
    ("raw", "canon", "level"),
    [
        ("wr1 1aa", "WR1 1AA", "unit"),
        ("WR11AA", "WR1 1AA", "unit"),
        ("  b97   4ha ", "B97 4HA", "unit"),
        ("EC1A1BB", "EC1A 1BB", "unit"),
        ("WR1 1", "WR1 1", "sector"),
        ("wr1", "WR1", "district"),
        ("hello", "HELLO", None),
        ("", "", None),
        (None, "", None),
    ],
)
def test_normalise(raw, canon, level):
    assert normalise_postcode(raw) == canon
    assert postcode_level(canon) == level


def _codepoint_rows(area: str) -> pd.DataFrame:
    """Read one area file of Code-Point Open directly: an independent reference."""
    with zipfile.ZipFile(_codepoint_zip()) as z:
        raw = z.read(f"Data/CSV/{area}.csv")
    return pd.read_csv(io.BytesIO(raw), header=None, usecols=[0, 2, 3], names=["pc", "e", "n"])


def test_units_match_codepoint(postcode_index):
    ref = _codepoint_rows("wr").sample(50, random_state=1)
    got = postcode_index.geocode(ref["pc"].str.lower().str.replace(" ", ""))
    assert got["matched"].all()
    np.testing.assert_array_equal(got["easting"].to_numpy(), ref["e"].to_numpy())
    np.testing.assert_array_equal(got["northing"].to_numpy(), ref["n"].to_numpy())


def test_sector_and_district_are_unit_means(postcode_index):
    ref = _codepoint_rows("wr")
    ref["pc"] = ref["pc"].map(normalise_postcode)
    sec = ref[ref["pc"].str.startswith("WR1 1")]
    dist = ref[ref["pc"].str.split(" ").str[0] == "WR14"]
    got = postcode_index.geocode(["wr1 1", "WR14"])
    assert got["level"].tolist() == ["sector", "district"]
    assert got.loc[0, "easting"] == pytest.approx(sec["e"].mean())
    assert got.loc[0, "northing"] == pytest.approx(sec["n"].mean())
    assert got.loc[1, "easting"] == pytest.approx(dist["e"].mean())


def test_unknown_postcodes_unmatched(postcode_index):
    got = postcode_index.geocode(["ZZ9 9ZZ", "not a postcode", "QQ1"])
    assert not got["matched"].any()
