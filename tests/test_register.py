"""The publication register (analysis/register.py): its file, and a differencing attack
across two publications small enough to work out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from harmreach.analysis import register as R
from harmreach.analysis.publish import _Ledger


@pytest.fixture
def reg_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HARMREACH_REGISTER", str(tmp_path / "reg"))
    R._open.clear()
    yield tmp_path / "reg"
    R._open.clear()


def test_file_round_trip_keeps_every_set_and_decision(reg_dir):
    rng = np.random.default_rng(7)
    n = 500
    xy, need = rng.random((n, 2)) * 1e4, rng.random(n) * 3
    reg = R.open_register(xy, need)
    cells = [
        R.Cell(np.sort(rng.choice(n, int(rng.integers(1, n)), replace=False)), bool(s), h, f"c{i}")
        for i, (s, h) in enumerate(zip(rng.random(40) < 0.7, rng.random(40), strict=True))
    ]
    bands = [R.Band([(1.0, cells[0].points), (-0.25, cells[1].points)], 0.0, np.inf)]
    with R.publishing(reg):
        R.record(reg, cells, bands, "test", {"minutes": 15})
    back = R.Register._read(reg.path, n)
    assert len(back.cells) == len(cells)
    for a, b in zip(cells, back.cells, strict=True):
        assert np.array_equal(a.points, b.points)
        assert (a.shown, a.half, a.name) == (b.shown, b.half, b.name)
    assert np.array_equal(back.bands[0].terms[1][1], cells[1].points)
    assert back.bands[0].terms[1][0] == -0.25
    assert back.history[0]["what"] == "test" and back.history[0]["minutes"] == "15"
    # the same set recorded again is one cell; a hidden cell shown since stays shown
    again = [R.Cell(cells[0].points, True, 0.5, "again")]
    with R.publishing(reg):
        R.record(reg, again, [], "test", {})
    assert len(R.Register._read(reg.path, n).cells) == len(cells)


def _publish(need: np.ndarray, reg: R.Register | None, sets: dict[str, list[int]]) -> _Ledger:
    """One publication of count cells over the points (each a set of point indices)."""
    led = _Ledger(5.0)
    led.need = need
    if reg is not None:
        led.attach(reg)
    for name, pts in sets.items():
        m = np.zeros(len(need), bool)
        m[pts] = True
        led.add(name, float(need[pts].sum()), mask=m)
    led.solve()
    if reg is not None:
        led.record("test", {})
    return led


def test_second_publication_cannot_difference_the_first(reg_dir):
    """Points' need 3, 10, 10, 10. The first publication shows {0,1} = 13 and hides {0} = 3
    (under 5). A second publishes {1} = 10 and {2,3} = 20: alone it reveals nothing, but
    13 - 10 = 3 is the hidden count. On one register the second must hide {1}; on a
    register of its own (another machine) it shows it, which is the attack."""
    need = np.array([3.0, 10.0, 10.0, 10.0])
    xy = np.arange(8.0).reshape(4, 2)
    first = {"a": [0, 1], "p0": [0]}
    second = {"b": [1], "rest": [2, 3]}
    reg = R.open_register(xy, need)
    with R.publishing(reg):
        led1 = _publish(need, reg, first)
    assert led1.shown(led1.index["a"]) and not led1.shown(led1.index["p0"])
    with R.publishing(reg):
        led2 = _publish(need, reg, second)
    assert not led2.shown(led2.index["b"]), "13 - 10 would give the hidden 3"
    assert led2.shown(led2.index["rest"])
    # the control: no register, the second publication alone shows {1}
    alone = _publish(need, None, second)
    assert alone.shown(alone.index["b"])
    # a third run publishing {0,1} again is the first run's cell, with its decision
    with R.publishing(reg):
        led3 = _publish(need, reg, {"a_again": [0, 1], "p0_again": [0]})
    assert led3.index["a_again"] < led3.base and led3.shown(led3.index["a_again"])
    assert not led3.shown(led3.index["p0_again"])


def test_other_data_is_another_register(reg_dir):
    xy = np.arange(8.0).reshape(4, 2)
    a = R.open_register(xy, np.array([3.0, 10, 10, 10]))
    b = R.open_register(xy, np.array([3.0, 10, 10, 11]))
    assert a.path != b.path


def test_unwritable_register_refuses_to_publish(tmp_path, monkeypatch):
    """Failing open would let a run be differenced against earlier ones (an attacker's
    finding): a register that cannot be written stops the publication with a fix."""
    from harmreach.geo.errors import InputError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("HARMREACH_REGISTER", str(blocker / "reg"))
    R._open.clear()
    xy = np.arange(8.0).reshape(4, 2)
    with pytest.raises(InputError, match="cannot be read or written") as e:
        R.open_register(xy, np.array([3.0, 10, 10, 10]))
    assert "HARMREACH_REGISTER" in str(e.value)
    R._open.clear()


def test_unreadable_register_refuses_to_publish(reg_dir):
    """A damaged register (or one of another format) is never silently replaced by an
    empty one: earlier publications would be forgotten."""
    from harmreach.geo.errors import InputError

    xy = np.arange(8.0).reshape(4, 2)
    need = np.array([3.0, 10, 10, 10])
    reg = R.open_register(xy, need)
    with R.publishing(reg):
        _publish(need, reg, {"a": [0, 1], "p0": [0]})
    reg.path.write_bytes(b"not a register")
    R._open.clear()
    reg2 = R.open_register(xy, need)
    with pytest.raises(InputError, match="cannot be read or written"):
        with R.publishing(reg2):
            pass
    assert reg.path.read_bytes() == b"not a register"  # left for the user to look at
    # the refusal released the lock: with the file fixed (here: removed), the next run goes
    reg.path.unlink()
    with R.publishing(reg2):
        _publish(need, reg2, {"a": [0, 1]})
