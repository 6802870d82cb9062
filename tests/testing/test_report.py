"""Report objects: pass/fail logic and the readable text form."""

import pytest

from refimpl.testing.report import Curve, Report, Row


def test_rows_and_faults_decide_the_verdict():
    ok = Report("t", (Row("a", 1.0, 2.0),))
    assert ok.passed
    assert not Report("t", (Row("a", float("nan"), 2.0),)).passed
    assert not Report("t", (Row("a", 1.0, 2.0),), faults=("wrong base",)).passed
    ok.assert_passed()
    with pytest.raises(AssertionError, match="wrong base"):
        Report("t", (), faults=("wrong base",)).assert_passed()


def test_text_shows_rows_identification_curve_and_faults():
    report = Report("RoPE conformance of f", (Row("agreement", 3e-3, 1e-10, "see the curve"),),
                    {"layout": "half", "base": 10000.0},
                    ("angles computed in float32",),
                    Curve("position", (1.0, 1024.0), (1e-8, 3e-3), (1e-10, 1e-7)))
    text = str(report)
    assert text.startswith("RoPE conformance of f: FAIL")
    for piece in ("layout", "half", "10000", "agreement", "FAIL", "see the curve",
                  "position", "<-- exceeds", "angles computed in float32"):
        assert piece in text
    assert report.row("agreement").measured == 3e-3
    with pytest.raises(KeyError, match="agreement"):
        report.row("missing")
