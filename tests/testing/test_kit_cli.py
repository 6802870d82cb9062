"""``python -m refimpl check --impl ... --kind ...`` and ``python -m refimpl vectors``."""

import subprocess
import sys

from refimpl.__main__ import main
from refimpl.testing import load_vectors

def test_conformance_check_passes_and_prints_report(capsys):
    status = main(["check", "--impl", "kit_standins:hf_rope_64", "--kind", "rope",
                   "--expect", "hf-default:head_dim=64", "--max-position", "4096"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "RoPE conformance" in out and "PASS" in out and "half" in out


def test_conformance_check_fails_and_names_the_fault(capsys):
    status = main(["check", "--impl", "kit_standins:hf_rope_64_off_by_one", "--kind", "rope",
                   "--head-dim", "64", "--expect", "hf-default", "--max-position", "4096"])
    out = capsys.readouterr().out
    assert status == 1 and "positions off by 1" in out


def test_other_kinds_run(capsys):
    assert main(["check", "--impl", "refimpl.householder:householder_product",
                 "--kind", "householder-product"]) == 0
    assert main(["check", "--impl", "refimpl.householder:stable_map",
                 "--kind", "orthogonal-map"]) == 0
    assert main(["check", "--impl", "refimpl.vmf.distribution:log_normalizer",
                 "--kind", "vmf-log-normalizer"]) == 0
    assert main(["check", "--impl", "refimpl.vmf.sampling:sample", "--kind", "vmf-sampler"]) == 0
    assert main(["check", "--impl", "kit_standins:hf_rope_64", "--kind", "householder-product",
                 "--expect", "hf-default"]) == 2
    assert "householder_product conformance: PASS" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    assert main(["check", "--impl", "kit_standins:hf_rope_64"]) == 2
    assert main(["check", "--impl", "no_colon", "--kind", "rope", "--head-dim", "8"]) == 2
    assert main(["check", "--impl", "kit_standins:hf_rope_64", "--kind", "rope"]) == 2
    assert main(["check", "--impl", "kit_standins:hf_rope_64", "--kind", "rope",
                 "--expect", "no-such-preset"]) == 2
    assert "unknown preset" in capsys.readouterr().err


def test_vectors_command_subprocess(tmp_path):
    result = subprocess.run([sys.executable, "-m", "refimpl", "vectors", "--out", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert len(load_vectors(tmp_path)) > 30


def test_kit_works_without_hypothesis_and_info_says_what_needs_it():
    """Only refimpl.testing.strategies needs Hypothesis (the ``test`` extra)."""
    code = ("import sys; sys.modules['hypothesis'] = None\n"
            "import refimpl.testing\n"
            "from refimpl.__main__ import main\n"
            "main(['info'])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "refimpl.testing.strategies" in result.stdout and "unavailable" in result.stdout
