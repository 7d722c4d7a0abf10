"""Independent differencing attacks on the publishing gate (issue 11), written without
reading the gate's code: only the command line and the Python API a user receives.

Each test collects what the tool publishes for one dataset, across runs with different
options, and works out a figure the tool hides (or a count of people under 5). It fails
when that figure is pinned to an interval narrower than the threshold (5 people).

The secret data: four sites in Rutland (real postcodes) and small client counts by
postcode sector, reported by ward.
"""

import os
import re
import subprocess
import sys
import tempfile

import pandas as pd
import pytest

THRESHOLD = 5.0

SITES = """site_id,name,type,postcode,opening_hours,capacity
P1,Oakham pharmacy,pharmacy,LE15 6DW,Mo-Fr 09:00-18:00; Sa 09:00-13:00,40
D1,Oakham drug service,drug_service,LE15 6JA,Mo-Fr 09:00-17:00,60
P2,Uppingham pharmacy,pharmacy,LE15 9QJ,Mo-Sa 08:00-20:00,30
P3,Ketton pharmacy,pharmacy,PE9 3UP,Mo-Fr 10:00-16:00,20
"""

# the secret: clients by postcode sector (total 119)
NEED = """postcode_sector,count
LE15 0,3
LE15 6,40
LE15 7,25
LE15 8,12
LE15 9,20
PE9 3,8
PE9 4,9
LE16 8,2
"""

# every postcode sector with postcode units in Rutland (public: OS Code-Point Open)
RUTLAND_SECTORS = [
    "LE15 0",
    "LE15 6",
    "LE15 7",
    "LE15 8",
    "LE15 9",
    "LE16 8",
    "PE9 2",
    "PE9 3",
    "PE9 4",
]


# Runs on one machine publish on one register (analysis/register.py), so a later run is
# decided on top of the earlier ones. Each cross-run attack also runs as if every run were
# on a machine of its own (a fresh register per run): there the attack is expected to work,
# which shows that it is the register, not chance, that defeats it.
_ISOLATED = {"on": False}
CROSS_RUN = pytest.mark.parametrize(
    "shared_register",
    [
        True,
        pytest.param(
            False,
            marks=pytest.mark.xfail(
                strict=True,
                reason="each run on a register of its own: two publications, not checked "
                "together, whose difference reveals a small count",
            ),
        ),
    ],
    ids=["one register", "a register per run"],
    indirect=True,
)


@pytest.fixture
def shared_register(request, tmp_path):
    _ISOLATED["on"] = not request.param
    _ISOLATED["dir"] = tmp_path
    yield request.param
    _ISOLATED["on"] = False


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("attack")
    (d / "sites.csv").write_text(SITES)
    (d / "need.csv").write_text(NEED)
    return d


def cli(work, *args, register=None):
    """Run the harmreach command line in a subprocess; return its printed text.

    ``register``: a publication register of its own (an alternative world, not a later
    publication of the same machine).
    """
    env = dict(os.environ)
    if register is None and _ISOLATED["on"]:
        register = tempfile.mkdtemp(dir=_ISOLATED["dir"])
    if register is not None:
        env["HARMREACH_REGISTER"] = str(register)
    p = subprocess.run(
        [sys.executable, "-m", "harmreach", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout + p.stderr


def need_split(le15_0, le16_8):
    """The secret need file with the small pool split another way."""
    return NEED.replace("LE15 0,3", f"LE15 0,{le15_0}").replace("LE16 8,2", f"LE16 8,{le16_8}")


def rutland(work, *args, need="need.csv", register=None):
    return cli(
        work,
        *args,
        "--area",
        "Rutland",
        "--level",
        "wards",
        "--sites",
        "sites.csv",
        "--need",
        need,
        register=register,
    )


def pct(text, label):
    """A headline share such as 'need covered: 37.0%' as a fraction, or None if hidden."""
    m = re.search(re.escape(label) + r":\s*([0-9.]+)%", text)
    return None if m is None else float(m.group(1)) / 100


def beyond_of(text):
    """('need beyond T minutes: B of T'): B and the total, each None when hidden."""
    hid = r"hidden(?: \([^)]*\))?"
    m = re.search(rf"need beyond [0-9.]+ minutes: ([0-9,]+|{hid}) of ([0-9,]+|{hid})", text)
    assert m, text

    def num(s):
        return None if s.startswith("hidden") else float(s.replace(",", ""))

    return num(m.group(1)), num(m.group(2))


def share_diff_people(s_hi, s_lo, total, round_share=0.0005, round_total=0.5):
    """Interval of (s_hi - s_lo) x total, given shares rounded to 0.1 % and a total to 1."""
    d_lo = (s_hi - round_share) - (s_lo + round_share)
    d_hi = (s_hi + round_share) - (s_lo - round_share)
    cands = [d * t for d in (d_lo, d_hi) for t in (total - round_total, total + round_total)]
    return max(0.0, min(cands)), max(cands)


def test_small_sector_counts_cannot_be_told_apart(work):
    """Attack 1 (one run), as the gate answers it. With client counts by sector, every
    published figure is a fixed mix of the sector counts (shared by residents, public
    weights): probing the tool once per sector learns the mix, and enough published ward
    needs solve back to the counts. The secret is the sector counts, so a count of 1-4 is
    never used on its own: it is pooled (here LE15 0 with 3 and LE16 8 with 2). Then any
    other split of the pool gives the very same outputs, so LE15 0 can be anything from
    just above 0 to just under 5 (and the ward estimates are mixes of counts of 5 or
    more). This test checks that indistinguishability on every published number."""
    base = rutland(work, "coverage", "--out", "areas.csv")
    assert "LE15 0" in base and "LE16 8" in base, "the pooled keys are named"
    out = {}
    for split in [(3, 2), (1, 4), (4, 1)]:
        need = need_split(*split)
        (work / "need_split.csv").write_text(need)
        # each split is another world: a machine of its own, with its own register
        text = rutland(
            work,
            "coverage",
            "--out",
            "split.csv",
            need="need_split.csv",
            register=work / f"register_{split[0]}_{split[1]}",
        )
        table = pd.read_csv(work / "split.csv")
        out[split] = (text.replace("need_split.csv", "need.csv"), table)
    texts = {k: v[0] for k, v in out.items()}
    tables = [v[1] for v in out.values()]
    assert len(set(texts.values())) == 1, "printed summaries differ between splits"
    for t in tables[1:]:
        pd.testing.assert_frame_equal(tables[0], t)


def test_specialist_alone_recovered_from_types_run_demo(work):
    """Attack 2 (demo county): within 1 minute, 'covered by specialist alone' is hidden as a
    count under the threshold, but a --types hospital,drug_service run publishes need
    beyond, and the plain run publishes the total: total - beyond is that count."""
    base = cli(work, "coverage", "--minutes", "1")
    spec = cli(work, "coverage", "--minutes", "1", "--types", "hospital,drug_service")
    if pct(base, "covered by specialist (hospital + drug service) alone") is not None:
        pytest.skip("the figure is published: nothing hidden to attack")
    _, total = beyond_of(base)
    beyond_s, _ = beyond_of(spec)
    assert total is not None
    if beyond_s is None:
        return
    lo, hi = max(0.0, total - beyond_s - 1.0), total - beyond_s + 1.0
    assert hi - lo >= THRESHOLD, (
        f"hidden 'covered by specialist alone' within 1 minute pinned to [{lo:g}, {hi:g}] "
        f"people (total {total:g} - beyond {beyond_s:g} of the --types run)"
    )


@CROSS_RUN
def test_close_need_losing_access_recovered_from_types_run(work, shared_register):
    """Attack 3 (what-if x --types): '--close D1' hides the need losing access in all areas;
    D1 is the only specialist site, so a '--types pharmacy' run publishes the share covered
    after the closure, and before - after, times the total, is the hidden count."""
    close = rutland(work, "coverage", "--close", "D1")
    pharm = rutland(work, "coverage", "--types", "pharmacy")
    m = re.search(r"^All areas\s+(\S+)\s+(\S+)\s+.*?(\S+)\s*$", close, re.M)
    assert m, close
    if m.group(3) != "hidden":
        pytest.skip("need losing access is published")
    before = pct(close, "need covered")
    after = pct(pharm, "need covered")
    _, total = beyond_of(close)
    if None in (before, after, total):
        return
    lo, hi = share_diff_people(before, after, total)
    assert hi - lo >= THRESHOLD, (
        f"hidden need losing access if D1 closes pinned to [{lo:.2f}, {hi:.2f}] people"
    )


@CROSS_RUN
def test_hidden_hour_of_profile_recovered_from_at_run(work, shared_register):
    """Attack 4 (--profile x --at): the weekly profile hides 'All areas, Mon 17:00' (P1 and
    P2 open) beside a published Mon 10:00 (all four open); '--at "Mon 17:30"' publishes
    that hour's share, and the step between the two hours is a small count of people."""
    text = rutland(work, "coverage", "--profile", "week.csv")
    _, total = beyond_of(text)
    week = pd.read_csv(work / "week.csv")
    allrows = week[(week.area_code == "ALL") & (week.day == "Mon")].set_index("hour")
    s10 = allrows.loc[10, "share_covered"]
    s17 = allrows.loc[17, "share_covered"]
    if pd.notna(s17) or pd.isna(s10):
        pytest.skip("the profile does not hide Mon 17:00 beside a published Mon 10:00")
    at = rutland(work, "coverage", "--at", "Mon 17:30")
    s_at = pct(at, "need covered")
    if s_at is None:
        return
    lo, hi = share_diff_people(float(s10), s_at, total)
    assert hi - lo >= THRESHOLD, (
        f"hidden Mon 17:00 step pinned: need covered at Mon 10:00 but not at 17:00 "
        f"in [{lo:.2f}, {hi:.2f}] people (--at run published {s_at:.3f})"
    )


def test_hidden_curve_step_recovered_from_minutes_runs(work):
    """Attack 5 (--minutes): the coverage curve hides 25 and 30 minutes; runs with
    --minutes 25 and --minutes 30 publish both shares, and their step (need between 25 and
    30 minutes from the nearest site) is a count under 5."""
    s = {}
    total = None
    for minutes in (25, 30):
        text = rutland(work, "coverage", "--minutes", str(minutes))
        s[minutes] = pct(text, "need covered")
        total = beyond_of(text)[1] or total
    if None in s.values() or total is None:
        return
    lo, hi = share_diff_people(s[30], s[25], total)
    assert hi - lo >= THRESHOLD or lo >= THRESHOLD, (
        f"need between 25 and 30 minutes pinned to [{lo:.2f}, {hi:.2f}] people "
        f"(--minutes 25: {s[25]:.3f}, --minutes 30: {s[30]:.3f})"
    )


@CROSS_RUN
def test_hidden_plan_step_recovered_from_other_objective(work, shared_register):
    """Attack 6 (plan objectives): 'plan --add 3' (coverage) hides its third step; the
    equity plan proposes the same three sites in another order and publishes the final
    share, so final - (share after step 2), times the total, is the hidden step."""
    cov = rutland(work, "plan", "--add", "3", "--objective", "coverage", "--out", "cov.csv")
    rutland(work, "plan", "--add", "3", "--objective", "equity", "--out", "eq.csv")
    _, total = beyond_of(cov) if "need beyond" in cov else (None, None)
    if total is None:
        base = rutland(work, "coverage")
        total = beyond_of(base)[1]
    pc = pd.read_csv(work / "cov.csv")
    pe = pd.read_csv(work / "eq.csv")
    key = lambda d: sorted(zip(d.lon.round(4), d.lat.round(4), strict=True))  # noqa: E731
    if key(pc) != key(pe) or len(pc) < 2:
        pytest.skip("the two objectives chose different sites")
    final = pe.share_covered_after.iloc[-1]
    pinned = {}
    for i in range(1, len(pc)):
        step = pc.iloc[i]
        prev = pc.share_covered_after.iloc[i - 1]
        if pd.isna(step.need_added) and pd.notna(prev) and pd.notna(final):
            if i == len(pc) - 1:
                lo, hi = share_diff_people(final, prev, total)
                if hi - lo < THRESHOLD:
                    pinned[int(step.order)] = (round(lo, 2), round(hi, 2))
    assert not pinned, f"hidden coverage-plan steps pinned (people): {pinned}"


def test_small_sector_counts_cannot_be_told_apart_across_areas(work):
    """Attack C of the second attacker: LE16 8 (2 clients) lies mostly in Harborough. When
    pools were chosen among the keys inside the area run, Rutland pooled it with LE15 0
    and Harborough with LE15 8, and runs on the two areas told the small counts apart.
    Pools now come from the whole file: any split of the pool gives identical outputs in
    both areas."""
    out = {}
    for split in [(3, 2), (1, 4)]:
        need = need_split(*split)
        (work / "need_split_c.csv").write_text(need)
        reg = work / f"register_c_{split[0]}_{split[1]}"
        texts = []
        for area in ("Rutland", "Harborough"):
            texts.append(
                cli(
                    work,
                    "coverage",
                    "--area",
                    area,
                    "--level",
                    "wards",
                    "--sites",
                    "sites.csv",
                    "--need",
                    "need_split_c.csv",
                    "--out",
                    f"split_c_{area}.csv",
                    register=reg,
                )
            )
            texts.append((work / f"split_c_{area}.csv").read_text())
        assert "LE15 0" in texts[2] and "LE16 8" in texts[2], "Harborough names the pool"
        out[split] = texts
    assert out[(3, 2)] == out[(1, 4)], "a split of the pool changed an output"


def test_which_pooled_key_is_small_is_not_told(work):
    """A third attacker's finding: with LE15 0 = 4 and LE16 8 = 5 (the small key pooled
    with its partner, the smallest other key), the summary listed the small key first, so
    the order told which key was under 5. Both splits of the pool of 9 now print and write
    the same."""
    texts = []
    for split in [(4, 5), (5, 4)]:
        need = need_split(*split)
        (work / "need_order.csv").write_text(need)
        text = rutland(
            work,
            "coverage",
            "--out",
            "order.csv",
            need="need_order.csv",
            register=work / f"register_order_{split[0]}_{split[1]}",
        )
        meta = (work / "order.metadata.json").read_text()
        meta = re.sub(r'"generated": "[^"]*"', "", meta)
        texts.append((text, (work / "order.csv").read_text(), meta))
    assert "LE15 0, LE16 8" in texts[0][0]
    assert texts[0] == texts[1], "the two splits are told apart"
