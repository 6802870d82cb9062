"""Report.plot and ``python -m refimpl check --plot``: the curve drawn as a PNG.

matplotlib is optional (the ``docs`` extra): the errors run everywhere, matplotlib's
absence is simulated with ``sys.modules["matplotlib"] = None``, and the drawing tests
skip without it.
"""

import sys

import numpy as np
import pytest

from refimpl.__main__ import main
from refimpl.testing import check_rope, preset
from refimpl.testing.report import Curve, Report, Row

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

CURVE = Curve("position", (0.0, 1.0, 2.0, 4.0, 1024.0), (0.0, 1e-16, 3e-16, 2e-16, 4e-14),
              (3.6e-15, 3.6e-15, 3.6e-15, 3.6e-15, 2e-12))


def rotates_nothing(x, positions):
    """A "RoPE" that returns x: the kit finds no pair to compare, so no curve."""
    return np.array(x, dtype=np.float64)


def test_a_report_without_curve_names_itself():
    report = Report("householder_product conformance", (Row("a", 0.0, 1.0),))
    with pytest.raises(ValueError, match="'householder_product conformance' has no error curve"):
        report.plot("unused.png")


def test_missing_matplotlib_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    report = Report("RoPE conformance of f", (), curve=CURVE)
    with pytest.raises(ImportError, match="pip install matplotlib") as raised:
        report.plot(tmp_path / "curve.png")
    assert "RoPE conformance of f" in str(raised.value) and "refimpl[docs]" in str(raised.value)
    assert not (tmp_path / "curve.png").exists()


def test_png_holds_the_curve(tmp_path):
    pytest.importorskip("matplotlib")
    report = Report("RoPE conformance of f", (), curve=CURVE)
    figure = report.plot(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes().startswith(PNG_SIGNATURE)
    (ax,) = figure.axes
    errors, tolerances = ax.lines
    assert tuple(errors.get_xdata()) == CURVE.values == tuple(tolerances.get_xdata())
    assert tuple(errors.get_ydata()) == CURVE.errors
    assert tuple(tolerances.get_ydata()) == CURVE.tolerances
    assert ax.get_title() == "RoPE conformance of f"
    assert ax.get_yscale() == "log" and ax.get_xscale() == "symlog"  # 0 .. 1024
    assert ax.get_xlabel() == "position"


def test_without_tolerances_only_the_errors_are_drawn():
    pytest.importorskip("matplotlib")
    curve = Curve("step", (1.0, 2.0, 3.0), (1e-3, 1e-4, 1e-5), (np.inf,) * 3)
    figure = Report("t", (), curve=curve).plot()
    (line,) = figure.axes[0].lines
    assert tuple(line.get_ydata()) == curve.errors
    assert figure.axes[0].get_xscale() == "linear"  # less than two decades


def test_two_reports_on_one_axes(tmp_path):
    """The float32-angle curve of check_rope lies above the float64 one and rises."""
    pytest.importorskip("matplotlib")
    from kit_standins import default_inv_freq, numpy_rope
    from matplotlib.figure import Figure

    expect = preset("hf-default", head_dim=16)
    reports = [check_rope(numpy_rope(default_inv_freq(16), angle_dtype=dtype), head_dim=16,
                          expect=expect, angle_dtype="float32", max_position=4096)
               for dtype in (np.float64, np.float32)]
    ax = Figure().add_subplot()
    for report, label in zip(reports, ("float64 angles", "float32 angles"), strict=True):
        figure = report.plot(ax=ax, label=label)
    figure.savefig(tmp_path / "both.png")
    assert figure is ax.figure and len(ax.lines) == 4
    assert [line.get_label() for line in ax.lines[::2]] == ["float64 angles", "float32 angles"]
    for line, report in zip(ax.lines[::2], reports, strict=True):
        assert tuple(line.get_ydata()) == report.curve.errors
    assert reports[1].curve.errors[-1] > 100 * reports[0].curve.errors[-1]


def test_cli_plot_writes_the_curve_of_the_check(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    target = tmp_path / "rope.png"
    status = main(["check", "--impl", "kit_standins:hf_rope_64", "--kind", "rope",
                   "--expect", "hf-default:head_dim=64", "--max-position", "4096",
                   "--plot", str(target)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert f"wrote the error curve to {target}" in out
    assert target.read_bytes().startswith(PNG_SIGNATURE)


def test_cli_plot_errors_exit_2(monkeypatch, tmp_path, capsys):
    target = str(tmp_path / "curve.png")
    rope = ["check", "--impl", "kit_standins:hf_rope_64", "--kind", "rope",
            "--head-dim", "64", "--max-position", "1024", "--plot", target]
    # a kind without a curve is refused before the check runs
    assert main(["check", "--impl", "refimpl.householder:householder_product",
                 "--kind", "householder-product", "--plot", target]) == 2
    captured = capsys.readouterr()
    assert "--kind householder-product has no curve" in captured.err
    assert "conformance" not in captured.out
    # --plot without a conformance check
    assert main(["check", "--plot", target]) == 2
    assert "--impl and --kind" in capsys.readouterr().err
    # a RoPE check that found nothing to compare with has no curve: the report, then why
    assert main(["check", "--impl", "test_report_plot:rotates_nothing", "--kind", "rope",
                 "--head-dim", "8", "--max-position", "64", "--plot", target]) == 2
    captured = capsys.readouterr()
    assert "RoPE conformance of rotates_nothing: FAIL" in captured.out
    assert "'RoPE conformance of rotates_nothing' has no error curve" in captured.err
    # matplotlib missing: the report is printed, the hint is the error
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(rope) == 2
    captured = capsys.readouterr()
    assert "RoPE conformance of rope: PASS" in captured.out
    assert "pip install matplotlib" in captured.err
    assert not (tmp_path / "curve.png").exists()
