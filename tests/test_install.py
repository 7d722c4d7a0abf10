"""A normal (non-editable) install works from anywhere and adds one top-level name."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from harmreach.geo import settings

pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return out


def test_wheel_installs_only_harmreach_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            str(settings.REPO_ROOT),
            "-w",
            str(wheels),
        ],
        cwd=tmp_path,
    )
    (whl,) = wheels.glob("harmreach-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    assert {n.split("/")[0] for n in names} == {
        "harmreach",
        whl.name.split("-py3")[0] + ".dist-info",
    }
    assert "harmreach/data/residents/postcode_residents.parquet" in names
    # A fresh environment with only the wheel; the dependencies come from this one, read
    # through a .pth (an editable install's finder is not loaded that way).
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    py = venv / "bin" / "python"
    _run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(whl)], cwd=tmp_path)
    site = _run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path
    ).stdout.strip()
    (Path(site) / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    code = (
        "import harmreach as hr, harmreach.geo.settings as s\n"
        "assert 'site-packages' in hr.__file__, hr.__file__\n"
        "assert 'site-packages' in str(s.DATA_DIR), s.DATA_DIR\n"
        "run = hr.coverage()\n"
        "print(run.headlines['need_covered'])\n"
        "run = hr.coverage(area='Slough')\n"
        "print(run.headlines['need_total'])\n"
    )
    out = _run([str(py), "-c", code], cwd=tmp_path)
    demo, slough = out.stdout.split()
    assert demo.endswith("%") and int(slough.replace(",", "")) > 100
    cli = _run([str(venv / "bin" / "harmreach"), "validate", "--area", "Slough"], cwd=tmp_path)
    assert "areas: built in, real (Slough" in cli.stdout
