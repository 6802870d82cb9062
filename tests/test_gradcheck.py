"""The gradient checker accepts correct VJPs and rejects each kind of wrong one."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.gradcheck import DEFAULT_EPS, assert_vjp, numerical_vjp
from refimpl.selfcheck.gradcheck import examples, softmax, softmax_vjp, wrong_examples

seeds = st.integers(0, 2**32 - 1)


@given(seeds)
def test_accepts_correct_vjps(seed):
    rng = np.random.default_rng(seed)
    for f, f_vjp, args in examples(rng):
        report = assert_vjp(f, f_vjp, args, rng=rng)
        assert report.worst_abs_error < 1e-7


@given(seeds)
def test_rejects_each_wrong_vjp(seed):
    rng = np.random.default_rng(seed)
    for f, f_vjp, args in wrong_examples(rng):
        with pytest.raises(AssertionError, match="disagrees with finite differences"):
            assert_vjp(f, f_vjp, args, rng=rng)


def test_failure_message_names_argument_and_entry():
    a, b = np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]])
    wrong = lambda g, a, b: (g @ b.T, a.T @ g + np.array([[0, 0], [0, 1.0]]))
    with pytest.raises(AssertionError, match=r"argument 1 .* index \(1, 1\): analytic"):
        assert_vjp(np.matmul, wrong, [a, b], rng=0)


def test_step_balances_truncation_and_rounding():
    assert DEFAULT_EPS == pytest.approx(np.finfo(float).eps ** (1 / 3))
    # exp has f''' = f, so the central-difference error at x = 1 is about
    # u^(2/3) * e ~ 1e-10: far below what a larger or smaller step gives.
    x, c = np.array([1.0]), np.array([1.0])
    errors = {eps: abs(numerical_vjp(np.exp, [x], c, eps=eps)[0][0] - np.e)
              for eps in (1e-3, DEFAULT_EPS, 1e-10)}
    assert errors[DEFAULT_EPS] < 1e-9
    assert errors[DEFAULT_EPS] < errors[1e-3] and errors[DEFAULT_EPS] < errors[1e-10]


def test_numerical_vjp_tuple_outputs_and_argnums():
    f = lambda x, y: (x * y, x + y)
    x, y = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    c = (np.array([1.0, 1.0]), np.array([2.0, 0.0]))
    gx, = numerical_vjp(f, [x, y], c, argnums=0)
    np.testing.assert_allclose(gx, [3.0 + 2.0, 5.0], atol=1e-9)


def test_only_selected_arguments_are_checked():
    report = assert_vjp(np.matmul, lambda g, a, b: g @ b.T,
                       [np.ones((2, 2)), np.ones((2, 2))], argnums=0, rng=1)
    assert report.argnums == (0,)


def test_wrong_number_of_gradients():
    with pytest.raises(AssertionError, match=r"returned 1 gradient\(s\), expected 2"):
        assert_vjp(np.matmul, lambda g, a, b: g @ b.T, [np.ones((2, 2)), np.ones((2, 2))])


def test_wrong_gradient_shape():
    with pytest.raises(AssertionError, match=r"shape \(3,\), expected the argument's shape \(2,\)"):
        assert_vjp(np.sin, lambda g, x: np.ones(3), [np.zeros(2)])


def test_non_finite_gradient():
    with pytest.raises(AssertionError, match="not finite"):
        assert_vjp(np.sin, lambda g, x: g * np.nan, [np.zeros(2)])


def test_non_finite_inputs_and_outputs():
    with pytest.raises(ValueError, match=r"args\[0\] must be finite"):
        assert_vjp(np.sin, lambda g, x: g, [np.array([np.inf])])
    with pytest.raises(ValueError, match="non-finite values in output 0"):
        assert_vjp(lambda x: x / 0.0 if False else np.full_like(x, np.inf),
                  lambda g, x: g, [np.ones(2)])


def test_bad_argnums():
    with pytest.raises(ValueError, match="argnums entry 3 is out of range"):
        assert_vjp(np.sin, lambda g, x: g, [np.ones(2)], argnums=3)


def test_report_text():
    report = assert_vjp(softmax, softmax_vjp, [np.arange(4.0)], rng=0)
    assert "arg 0: max abs error" in str(report)


def test_fixed_arity_vjp_checks_only_argnums():
    # refimpl's VJPs return one entry per argument (None for an option not given); the
    # checker picks the ones in argnums, and still catches a wrong one among them.
    x, scale = np.linspace(0.1, 1.0, 4), np.array(3.0)

    def f(x, scale):
        return scale * np.sin(x)

    def f_vjp(grad, x, scale):
        return grad * scale * np.cos(x), None

    assert_vjp(f, f_vjp, [x, scale], argnums=[0], rng=0)
    with pytest.raises(AssertionError, match="returned None for checked argument"):
        assert_vjp(f, f_vjp, [x, scale], rng=0)
    with pytest.raises(AssertionError, match="disagrees"):
        assert_vjp(f, lambda g, x, s: (-g * s * np.cos(x), None), [x, scale], argnums=[0],
                   rng=0)
