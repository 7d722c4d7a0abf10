import subprocess
import sys

from harmreach.cli import main


def test_help_lists_the_verbs():
    out = subprocess.run([sys.executable, "-m", "harmreach", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for verb in ("coverage", "gaps", "hotspots", "plan"):
        assert verb in out


def test_bad_input_is_one_line_without_traceback(write, capsys):
    p = write("sites.csv", "site_id,name,type,postcode\nA,a,pharmacy,ZZ9 9ZZ\n")
    code = main(["validate", "--sites", str(p)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "row 2" in err and "ZZ9 9ZZ" in err


def test_validate_demo(capsys):
    assert main(["validate"]) == 0
    out = capsys.readouterr().out
    assert "sites: 31" in out and "ILLUSTRATIVE" in out


def test_console_script_installed():
    import shutil
    exe = shutil.which("harmreach") or str(__import__("pathlib").Path(sys.executable).parent / "harmreach")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    assert "coverage" in out
