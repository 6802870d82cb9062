"""check_vjp: a foreign backward against refimpl's VJP and against finite differences."""

from functools import partial

import numpy as np
import pytest

from refimpl.rope import apply, apply_vjp
from refimpl.testing import check_vjp

RNG = np.random.default_rng(7)
X, ANGLES = RNG.standard_normal((3, 8)), RNG.standard_normal((3, 4))


def foreign_rope_backward(grad, x, angles):
    """An independent port of the RoPE backward (half layout): rotate grad by -angle."""
    cos, sin = np.cos(angles), np.sin(angles)
    g1, g2 = grad[:, :4], grad[:, 4:]
    x1, x2 = x[:, :4], x[:, 4:]
    grad_x = np.concatenate([g1 * cos + g2 * sin, g2 * cos - g1 * sin], axis=-1)
    grad_angles = g1 * (-x1 * sin - x2 * cos) + g2 * (x1 * cos - x2 * sin)
    return grad_x, grad_angles


FORWARD = partial(apply, layout="half")
REFERENCE = (FORWARD, partial(apply_vjp, layout="half"))


def test_independent_backward_passes_against_reference_and_differences():
    assert check_vjp(FORWARD, foreign_rope_backward, [X, ANGLES], reference=REFERENCE).passed
    assert check_vjp(FORWARD, foreign_rope_backward, [X, ANGLES]).passed


def test_sign_error_is_caught_and_named():
    def wrong(grad, x, angles):
        grad_x, grad_angles = foreign_rope_backward(grad, x, angles)
        return grad_x, -grad_angles

    for reference in (REFERENCE, None):
        report = check_vjp(FORWARD, wrong, [X, ANGLES], reference=reference)
        assert not report.passed
        assert report.faults == ("gradient of argument 1 has the wrong sign (it is -1 x the "
                                 "reference)",)


def test_factor_and_wrong_rotation_direction():
    doubled = check_vjp(np.sin, lambda g, x: 2 * g * np.cos(x), [X], reference=(
        np.sin, lambda g, x: g * np.cos(x)))
    assert doubled.faults == ("gradient of argument 0 is 2 x the reference",)
    # Rotating the gradient by +angle instead of -angle: not a constant factor, still caught.
    forward_rotation = check_vjp(FORWARD, lambda g, x, a: (FORWARD(g, a),
                                                           foreign_rope_backward(g, x, a)[1]),
                                 [X, ANGLES], reference=REFERENCE)
    assert not forward_rotation.row("gradient of argument 0").passed


def test_grad_form_and_wrong_count():
    report = check_vjp(lambda x: np.sum(x**3), lambda x: 3 * x**2, [X], form="grad")
    assert report.passed
    report = check_vjp(FORWARD, lambda g, x, a: foreign_rope_backward(g, x, a)[0],
                       [X, ANGLES], reference=REFERENCE)
    assert not report.passed and "number of gradients returned" in str(report)


def test_forward_mismatch_is_reported():
    report = check_vjp(partial(apply, layout="interleaved"), foreign_rope_backward, [X, ANGLES],
                       reference=REFERENCE)
    assert not report.row("forward agrees with the reference").passed


def test_bad_form_raises():
    with pytest.raises(ValueError, match="form"):
        check_vjp(np.sin, np.cos, [X], form="jvp")


def test_refimpl_backwards_pass_as_foreign_functions():
    """refimpl's own VJPs, fed in as if foreign, agree with central differences."""
    from refimpl.householder import (
        householder_product,
        householder_product_vjp,
        reflect,
        reflect_vjp,
        stable_map,
        stable_map_vjp,
    )
    rng = np.random.default_rng(7)  # local: the inputs never depend on earlier tests' draws
    a, b = rng.standard_normal((2, 5))
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    V, tau = rng.standard_normal((5, 3)), rng.uniform(0.5, 1.5, 3)
    cases = [(reflect, reflect_vjp, [rng.standard_normal((2, 5)), rng.standard_normal(5)]),
             (householder_product, householder_product_vjp, [V, tau]),
             (lambda x: stable_map(x, a, b), lambda g, x: stable_map_vjp(g, x, a, b)[0],
              [rng.standard_normal((3, 5))])]
    for f, f_vjp, args in cases:
        report = check_vjp(f, f_vjp, args)
        assert report.passed, str(report)


def test_tolerance_has_a_size_factor():
    """Issue #18: torch's householder_product backward on (7, 4) was 26.7 eps off, ordinary
    round-off, and failed a tolerance without a size factor. A gradient 40 eps off on an
    output of 28 entries passes (tolerance 16 eps sqrt(28) = 85 eps); 200 eps fails."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 4))
    exact = lambda g, x: g * np.cos(x)
    for ulps, passes in ((40, True), (200, False)):
        noisy = lambda g, x, u=ulps: exact(g, x) + u * 2.0**-52 * np.sign(rng.standard_normal(
            x.shape)) * np.maximum(1.0, np.max(np.abs(exact(g, x))))
        report = check_vjp(np.sin, noisy, [x], reference=(np.sin, exact))
        assert report.passed is passes, str(report)
        assert report.identified["output size (sum length)"] == 28


def test_a_bare_array_for_args_says_what_to_pass():
    with pytest.raises(TypeError, match=r"args must be a list.*one array per argument.*\[x\]"):
        check_vjp(np.sin, lambda g, x: g * np.cos(x), X)


def test_foreign_exceptions_carry_the_call():
    from refimpl.testing.adapters import ForeignError

    def broken(g, x):
        raise RuntimeError("one of the variables needed for gradient computation has been "
                           "modified by an inplace operation")

    with pytest.raises(ForeignError, match=r"broken raised RuntimeError.*\n.*fn_vjp\(cotangent: "
                                           r"numpy.ndarray float64 \(3, 8\), args\[0\]"):
        check_vjp(np.sin, broken, [X])
    with pytest.raises(TypeError, match=r"fn_vjp.*callable as fn_vjp\(cotangent, args\[0\]\)"):
        check_vjp(np.sin, lambda x: np.cos(x), [X])


def test_fixed_arity_reference_with_a_subset_of_argnums():
    """refimpl's apply_vjp returns a gradient for every argument; the foreign backward only
    for the ones in argnums."""
    report = check_vjp(FORWARD, lambda g, x, a: foreign_rope_backward(g, x, a)[1], [X, ANGLES],
                       reference=(FORWARD, lambda g, x, a: REFERENCE[1](g, x, a)[:2]),
                       argnums=[1])
    assert report.passed, str(report)
