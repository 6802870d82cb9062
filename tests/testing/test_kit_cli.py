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


def test_exit_codes_pass_fail_and_foreign_error(capsys):
    """0 pass, 1 fail, 2 usage error or an exception raised by the function under test."""
    assert main(["check", "--impl", "kit_standins:raising_rope", "--kind", "rope",
                 "--head-dim", "64"]) == 2
    err = capsys.readouterr().err
    assert "the function under test raised" in err and "RuntimeError" in err
    assert "fn(x: numpy.ndarray float64" in err and "Traceback" not in err


def test_torch_function_without_framework_gets_a_hint(capsys):
    assert main(["check", "--impl", "kit_standins:torch_style_rope", "--kind", "rope",
                 "--head-dim", "64"]) == 2
    err = capsys.readouterr().err
    assert "receives NumPy" in err or "received NumPy arrays" in err
    assert "--framework torch" in err


def test_pair_kind_and_a_pair_given_to_rope(capsys):
    assert main(["check", "--impl", "kit_standins:pair_rope_64", "--kind", "rope-pair",
                 "--expect", "hf-default:head_dim=64", "--max-position", "4096"]) == 0
    assert "q/k pair conformance" in capsys.readouterr().out
    assert main(["check", "--impl", "kit_standins:pair_rope_64", "--kind", "rope",
                 "--head-dim", "64"]) == 2
    assert "check_rope_pair" in capsys.readouterr().err


def test_vjp_kind(capsys):
    base = ["check", "--impl", "kit_standins:sin_forward", "--kind", "vjp", "--args", "3x4"]
    assert main(base + ["--vjp", "kit_standins:sin_backward"]) == 0
    assert main(base + ["--vjp", "kit_standins:sin_backward_wrong_sign"]) == 1
    assert "wrong sign" in capsys.readouterr().out
    assert main(["check", "--impl", "refimpl.householder:householder_product", "--kind", "vjp",
                 "--vjp", "refimpl.householder:householder_product_vjp", "--args", "7x4", "4",
                 "--reference", "refimpl.householder:householder_product"]) == 0
    assert main(base) == 2
    assert "--vjp" in capsys.readouterr().err
    assert main(base + ["--vjp", "kit_standins:sin_backward", "--args", "3y4"]) == 2


def test_angle_dtype_and_options_that_do_not_apply(capsys):
    assert main(["check", "--impl", "kit_standins:hf_rope_64", "--kind", "rope",
                 "--head-dim", "64", "--angle-dtype", "float32", "--max-position", "1024"]) == 0
    assert "angles float32" in capsys.readouterr().out
    assert main(["check", "--impl", "refimpl.vmf.sampling:sample", "--kind", "vmf-sampler",
                 "--angle-dtype", "float32"]) == 2
    assert "--angle-dtype applies to --kind rope" in capsys.readouterr().err
    assert main(["check", "--impl", "kit_standins:sin_forward", "--kind", "rope",
                 "--head-dim", "8", "--vjp", "kit_standins:sin_backward"]) == 2
