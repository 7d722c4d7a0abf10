"""Write the demo county's ILLUSTRATIVE site activity and treatment counts.

Run with ``python data/build_demo_activity.py``. Deterministic (fixed seed): the same
inputs give the same files. Nothing here is real: the figures are invented so that the
equipment and met-need views have something to show, with contrast between districts.

- ``data/sites/activity.csv``: per demo site (``data/sites/sites.csv``) and quarter of
  2024/25, the transactions (visits), syringes given out and syringes returned.
- ``data/need/treatment.csv``: per demo district, people in treatment, an invented share of
  the demo need (``data/need/district_need.csv``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SITES = ROOT / "data" / "sites" / "sites.csv"
NEED = ROOT / "data" / "need" / "district_need.csv"
ACTIVITY_OUT = ROOT / "data" / "sites" / "activity.csv"
TREATMENT_OUT = ROOT / "data" / "need" / "treatment.csv"
SEED = 14

#: The four quarters of financial year 2024/25 (both days included).
QUARTERS = [
    ("2024-04-01", "2024-06-30"),
    ("2024-07-01", "2024-09-30"),
    ("2024-10-01", "2024-12-31"),
    ("2025-01-01", "2025-03-31"),
]
#: Invented syringes a year by site type, before the town multiplier.
SYRINGES_A_YEAR = {"pharmacy": 2_600, "hospital": 1_000, "drug_service": 9_000}
#: Invented town multipliers, so that districts fall in different WHO bands.
TOWN_MULTIPLIER = {
    "Worcester": 1.3,
    "Kidderminster": 0.55,
    "Redditch": 0.6,
    "Bromsgrove": 1.6,
    "Malvern": 1.8,
    "Evesham": 1.0,
    "Droitwich Spa": 1.0,
    "Pershore": 1.0,
    "Stourport-on-Severn": 0.6,
    "Tenbury Wells": 1.0,
    "Bewdley": 0.8,
}
#: Invented syringes per visit (about 1.3 packs of 10) and return rates by site type.
SYRINGES_PER_VISIT = 13.0
RETURN_RATE = {"pharmacy": 0.5, "hospital": 0.6, "drug_service": 0.7}
#: One site skips a quarter (closed for a refit, invented) to show annualising over gaps.
SKIPS = {("PHA20", 2)}
#: Invented share of the demo need in treatment, by district.
TREATED_SHARE = {
    "E07000234": 0.52,  # Bromsgrove
    "E07000235": 0.61,  # Malvern Hills
    "E07000236": 0.44,  # Redditch
    "E07000237": 0.57,  # Worcester
    "E07000238": 0.48,  # Wychavon
    "E07000239": 0.39,  # Wyre Forest
}


def build_activity(rng: np.random.Generator) -> pd.DataFrame:
    """Quarterly activity of every demo site."""
    sites = pd.read_csv(SITES, dtype=str)
    rows = []
    for _, s in sites.iterrows():
        town = s["name"].split(", ", 1)[1]
        per_year = SYRINGES_A_YEAR[s["type"]] * TOWN_MULTIPLIER[town]
        for q, (start, end) in enumerate(QUARTERS):
            if (s["site_id"], q) in SKIPS:
                continue
            days = (pd.Timestamp(end) - pd.Timestamp(start)).days + 1
            syringes = int(rng.poisson(per_year * days / 365.25))
            visits = int(rng.poisson(syringes / SYRINGES_PER_VISIT))
            returns = int(rng.binomial(syringes, RETURN_RATE[s["type"]]))
            rows.append(
                {
                    "site_id": s["site_id"],
                    "period_start": start,
                    "period_end": end,
                    "transactions": visits,
                    "syringes": syringes,
                    "returns": returns,
                    "illustrative": True,
                }
            )
    return pd.DataFrame(rows)


def build_treatment() -> pd.DataFrame:
    """People in treatment per demo district (an invented share of the demo need)."""
    need = pd.read_csv(NEED, dtype={"area_code": str})
    share = need["area_code"].map(TREATED_SHARE)
    return pd.DataFrame(
        {
            "area_code": need["area_code"],
            "area_name": need["area_name"],
            "in_treatment": np.round(need["need"] * share).astype(int),
            "illustrative": True,
        }
    )


def main() -> None:
    """Write both files."""
    rng = np.random.default_rng(SEED)
    build_activity(rng).to_csv(ACTIVITY_OUT, index=False)
    build_treatment().to_csv(TREATMENT_OUT, index=False)
    print(f"wrote {ACTIVITY_OUT.relative_to(ROOT)} and {TREATMENT_OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
