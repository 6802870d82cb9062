"""``python -m refimpl``: check prints its table and fails on a failing row; info lists modules."""

import subprocess
import sys

import numpy as np

from refimpl.__main__ import main
from refimpl.selfcheck import Check, CheckResult, run_checks


def test_check_passes_and_prints_table(capsys):
    assert main(["check", "--only", "gradcheck"]) == 0
    out = capsys.readouterr().out
    assert "gradcheck rejects wrong VJPs" in out and "all checks passed" in out


def test_check_unknown_filter(capsys):
    assert main(["check", "--only", "no such check"]) == 2


def test_failing_and_crashing_rows_fail(capsys):
    import io
    buffer = io.StringIO()
    checks = [Check("ok", lambda rng: CheckResult(1, 0.0, 1.0)),
              Check("bad", lambda rng: CheckResult(1, 2.0, 1.0, "too big")),
              Check("crash", lambda rng: 1 / 0)]
    assert run_checks(checks, out=buffer) is False
    text = buffer.getvalue()
    assert "too big" in text and "ZeroDivisionError" in text and text.count("FAIL") == 2
    assert CheckResult(1, float("nan"), 1.0).passed is False


def test_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"NumPy   {np.__version__}" in out and "refimpl.gradcheck" in out


def test_module_entry_point_exit_status():
    result = subprocess.run([sys.executable, "-m", "refimpl", "check", "--only", "gradcheck"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "pass" in result.stdout
