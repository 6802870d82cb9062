"""LayerNorm and RMSNorm: normalisation properties, closed forms, VJPs, extreme inputs, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.gradcheck import assert_vjp
from refimpl.norms import layer_norm, layer_norm_vjp, rms_norm, rms_norm_vjp

seeds = st.integers(0, 2**32 - 1)
widths = st.integers(2, 9)
# input scales from tiny to huge, so the eps regime and the overflow-safe path are hit
log_scales = st.sampled_from([-150.0, -3.0, 0.0, 2.0, 150.0, 300.0])


def fd_step(log_scale):
    """Finite-difference step relative to the input scale (gradcheck steps eps * max(1, |x|))."""
    return 6e-6 * 10.0 ** min(log_scale, 0.0)


def draw(seed, d, log_scale=0.0, batch=(3,)):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(batch + (d,)) * 10.0**log_scale, rng


@given(seeds, widths, log_scales)
def test_layer_norm_output_has_zero_mean_and_unit_variance(seed, d, log_scale):
    x, _ = draw(seed, d, log_scale)
    eps = 1e-5
    y = layer_norm(x, np.ones(d), np.zeros(d), eps)
    # exactly: mean 0 and variance var(x) / (var(x) + eps), computed without overflow
    peak = np.max(np.abs(x), axis=-1)
    scaled_var = np.var(x / peak[..., None], axis=-1)
    expected = 1.0 / (1.0 + eps / peak / peak / scaled_var)  # eps/var(x), no overflow
    # centring a row whose entries agree to a relative gap g loses ~u/g: the mean and the
    # variance of y err by ~2u / (std(x) / peak), so the tolerance is 8 eps over the row's
    # relative spread (plus a floor for the sums of d terms of size 1)
    tolerance = 1e-14 + 8 * np.finfo(float).eps / np.sqrt(scaled_var)
    assert np.all(np.abs(np.mean(y, axis=-1)) <= tolerance)
    assert np.all(np.abs(np.var(y, axis=-1) - expected) <= tolerance * expected + 1e-300)
    assert np.all(np.isfinite(y))


@given(seeds, widths, log_scales)
def test_rms_norm_output_has_unit_rms(seed, d, log_scale):
    x, _ = draw(seed, d, log_scale)
    eps = 1e-6
    y = rms_norm(x, np.ones(d), eps)
    # exactly: rms(y)^2 = ms(x) / (ms(x) + eps), computed without overflow
    peak = np.max(np.abs(x), axis=-1, keepdims=True)
    with np.errstate(over="ignore"):
        mean_square = np.mean((x / peak) ** 2, axis=-1) * peak[..., 0] ** 2
    np.testing.assert_allclose(np.mean(y * y, axis=-1), 1.0 / (1.0 + eps / mean_square),
                               rtol=1e-12, atol=1e-300)
    # y is a positive multiple of x
    np.testing.assert_allclose(y / np.linalg.norm(y, axis=-1, keepdims=True),
                               (x / peak) / np.linalg.norm(x / peak, axis=-1, keepdims=True),
                               rtol=1e-12, atol=1e-15)


@given(seeds, widths)
def test_layer_norm_is_shift_and_scale_invariant(seed, d):
    x, rng = draw(seed, d)
    gain, bias = rng.standard_normal(d), rng.standard_normal(d)
    eps = 1e-5
    base = layer_norm(x, gain, bias, eps)
    np.testing.assert_allclose(layer_norm(x + 7.5, gain, bias, eps), base, atol=1e-12)
    # scaling x by c is the same as dividing eps by c^2
    np.testing.assert_allclose(layer_norm(1e3 * x, gain, bias, eps * 1e6), base, atol=1e-12)


def test_closed_forms():
    # [1, 3]: mean 2, variance 1 -> (x - 2) / sqrt(1 + eps)
    y = layer_norm([[1.0, 3.0]], [2.0, 1.0], [0.5, 0.0], eps=0.25)
    np.testing.assert_allclose(y, [[2.0 * -1 / np.sqrt(1.25) + 0.5, 1 / np.sqrt(1.25)]])
    # [3, 4]: mean square 12.5
    # [3, 4]: mean square 12.5, + eps 3.5 = 16
    np.testing.assert_allclose(rms_norm([3.0, 4.0], [1.0, -2.0], eps=3.5), [0.75, -2.0])


def test_constant_and_zero_rows_are_finite():
    for x in ([5.0, 5.0, 5.0], [0.0, 0.0, 0.0], [1e308, 1e308, 1e308]):
        np.testing.assert_array_equal(layer_norm(x, np.ones(3), [1.0, 2.0, 3.0]), [1, 2, 3])
        assert np.all(np.isfinite(rms_norm(x, np.ones(3))))
    # at a constant row the Jacobian is (I - 11^T / d) / sqrt(eps), whatever the constant
    for c in (0.0, 5.0, 1e308):
        grad_x, _, _ = layer_norm_vjp([1.0, 2.0, 3.0], [c] * 3, np.ones(3), np.zeros(3), 1e-4)
        np.testing.assert_allclose(grad_x, [-100.0, 0.0, 100.0], rtol=1e-12)


def test_huge_inputs_do_not_overflow():
    with np.errstate(all="raise", under="ignore"):
        y = layer_norm([[1.7e308, -1.7e308]], [1.0, 1.0], [0.0, 0.0])
        np.testing.assert_allclose(y, [[1.0, -1.0]])
        np.testing.assert_allclose(rms_norm([1e300, 1e300], [1.0, 1.0]), [1.0, 1.0])


@given(seeds, widths, st.sampled_from([-2.0, 0.0, 1.0, 100.0]))
def test_layer_norm_vjp(seed, d, log_scale):
    x, rng = draw(seed, d, log_scale, batch=(2, 3))
    gain, bias = rng.standard_normal(d), rng.standard_normal(d)
    eps = 1e-5 * 10.0 ** (2 * log_scale)  # keep eps at the same relative size
    assert_vjp(lambda x, g, b: layer_norm(x, g, b, eps),
              lambda c, x, g, b: layer_norm_vjp(c, x, g, b, eps),
              [x, gain, bias], rng=rng, eps=fd_step(log_scale))


@given(seeds, widths, st.sampled_from([-2.0, 0.0, 1.0]))
def test_rms_norm_vjp(seed, d, log_scale):
    x, rng = draw(seed, d, log_scale, batch=(2, 3))
    gain = rng.standard_normal(d)
    eps = 1e-6 * 10.0 ** (2 * log_scale)
    assert_vjp(lambda x, g: rms_norm(x, g, eps), lambda c, x, g: rms_norm_vjp(c, x, g, eps),
              [x, gain], rng=rng, eps=fd_step(log_scale))


def test_vjp_catches_a_wrong_gradient():
    # the check has power: dropping the mean-of-g term of the LayerNorm VJP is caught
    x, rng = draw(1, 4)
    wrong = lambda c, x, g, b: (layer_norm_vjp(c, x, g, b)[0] + np.mean(c * g, -1, keepdims=True)
                                / np.std(x, -1, keepdims=True), *layer_norm_vjp(c, x, g, b)[1:])
    with pytest.raises(AssertionError, match="disagrees"):
        assert_vjp(layer_norm, wrong, [x, np.ones(4), np.zeros(4)], rng=rng)


@pytest.mark.parametrize("call, match", [
    (lambda: layer_norm(np.ones((2, 3)), np.ones(4), np.zeros(3)), "gain"),
    (lambda: layer_norm(np.ones((2, 3)), np.ones(3), np.zeros(2)), "bias"),
    (lambda: layer_norm(np.ones((2, 3)), np.ones(3), np.zeros(3), eps=0.0), "eps"),
    (lambda: rms_norm([1.0, np.nan], np.ones(2)), "x must be finite"),
    (lambda: rms_norm(np.ones((2, 0)), np.ones(0)), "x"),
    (lambda: rms_norm_vjp(np.ones(3), np.ones((2, 3)), np.ones(3)), "grad"),
    (lambda: layer_norm_vjp(np.ones((2, 2)), np.ones((2, 3)), np.ones(3), np.zeros(3)), "grad"),
])
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
