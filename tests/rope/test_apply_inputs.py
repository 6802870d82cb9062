"""refimpl.rope.apply: what the argument checks of angles, inv_freq_vjp and apply_vjp
accept and refuse (ranks, broadcasting, strides, non-finite pass-through features), and
the shapes of what they return.

Every expected value here is an exact small-integer product or sum (exact in float64), or
the same computation on a copy of the input with another memory layout.
"""

import numpy as np
import pytest

from refimpl.rope import angles, angles_vjp, apply, apply_vjp, inv_freq_vjp

# -- angles ------------------------------------------------------------------------------


def test_angles_refuse_a_scalar_inv_freq():
    """inv_freq needs its frequency axis (P,): a bare number is refused, not read as P=1."""
    with pytest.raises(ValueError, match="inv_freq must have at least 1 dimension"):
        angles([1.0, 2.0], 0.5)


def test_angles_batch_of_inv_freq_broadcasts_against_positions():
    """inv_freq (T, P) pairs its rows with positions (T,); a batch that does not broadcast
    is named with both shapes."""
    inv = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert np.array_equal(angles([1.0, 2.0, -1.0], inv),
                          [[1.0, 2.0], [6.0, 8.0], [-5.0, -6.0]])
    with pytest.raises(ValueError, match=r"shapes do not broadcast: positions \(2,\), "
                                         r"inv_freq \(3,\)"):
        angles([1.0, 2.0], inv)
    with pytest.raises(ValueError, match=r"shapes do not broadcast: positions \(2,\), "
                                         r"inv_freq \(4, 3\)"):
        angles([1.0, 2.0], np.ones((4, 3, 2)))


def test_angles_vjp_sums_over_the_frequency_and_broadcast_axes():
    """dL/dp[b, t] = sum_k g[b, t, k] w_k and dL/dw_k = sum over (b, t) of p[b, t] g[b, t, k]
    for a (2, 3, 4) gradient; positions (3,) broadcast over b get the sum over b.
    Small integers, so every sum is exact."""
    g = np.arange(24.0).reshape(2, 3, 4) - 11.0
    positions, inv = np.array([[1.0, -2.0, 3.0], [0.0, 2.0, -1.0]]), np.array([1.0, 2.0, -1.0, 3.0])
    expected_p = np.array([[sum(g[b, t, k] * inv[k] for k in range(4)) for t in range(3)]
                           for b in range(2)])
    expected_w = np.array([sum(positions[b, t] * g[b, t, k] for b in range(2) for t in range(3))
                           for k in range(4)])
    grad_p, grad_w = angles_vjp(g, positions, inv)
    assert np.array_equal(grad_p, expected_p) and np.array_equal(grad_w, expected_w)
    grad_p, grad_w = angles_vjp(g, positions[0], inv)
    assert np.array_equal(grad_p, expected_p.sum(axis=0))
    assert np.array_equal(grad_w, np.einsum("t,btk->k", positions[0], g))


# -- inv_freq_vjp ------------------------------------------------------------------------


def test_inv_freq_vjp_sums_p_times_g_over_every_leading_axis():
    """dL/domega_k = sum over (b, t) of p_t g[b, t, k], with a non-square (2, 3, 4) gradient
    and positions (3,) broadcast over the batch axis; integers, so exact."""
    g = np.arange(24.0).reshape(2, 3, 4) - 7.0
    positions = np.array([2.0, -1.0, 3.0])
    expected = np.zeros(4)
    for b in range(2):
        for t in range(3):
            expected += positions[t] * g[b, t]
    assert np.array_equal(inv_freq_vjp(g, positions), expected)
    # one position and one row of P = 3 gradients: p * g
    assert np.array_equal(inv_freq_vjp([1.0, 2.0, 3.0], 2.0), [2.0, 4.0, 6.0])


def test_inv_freq_vjp_checks_its_arguments():
    with pytest.raises(ValueError, match="grad_angles must have at least 1 dimension"):
        inv_freq_vjp(1.0, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"shapes do not broadcast: grad_angles \(4,\), "
                                         r"positions \(5,\)"):
        inv_freq_vjp(np.ones((4, 3)), np.ones(5))
    with pytest.raises(ValueError, match=r"shapes do not broadcast: grad_angles \(2, 4\), "
                                         r"positions \(3,\)"):
        inv_freq_vjp(np.ones((2, 4, 3)), np.ones(3))


# -- apply_vjp ---------------------------------------------------------------------------


def _case():
    rng = np.random.default_rng(7)
    return (rng.standard_normal((3, 5)), rng.standard_normal((3, 5)),
            rng.uniform(-3.0, 3.0, (3, 2)))


@pytest.mark.parametrize("layout", ["interleaved", "half"])
def test_vjp_of_a_strided_gradient_equals_the_contiguous_one(layout):
    """A gradient whose feature axis is not contiguous (Fortran order, a strided view) is the
    same numbers as its C-ordered copy, so every output is bitwise the same."""
    g, x, phi = _case()
    basis = np.linalg.qr(np.random.default_rng(8).standard_normal((4, 4)))[0]
    wide = np.zeros((3, 10))
    wide[:, ::2] = g
    for b in (None, basis):
        options = dict(layout=layout, magnitude=np.array([0.5, 2.0]), basis=b, rotary_dim=4)
        expected = apply_vjp(g, x, phi, **options)
        for strided in (np.asfortranarray(g), wide[:, ::2]):
            for got, want in zip(apply_vjp(strided, x, phi, **options), expected, strict=True):
                assert (got is None and want is None) or np.array_equal(got, want)


def test_vjp_gradient_shapes_follow_their_arguments():
    """grad_basis is (2P, 2P) like the basis, grad_magnitude like the magnitude."""
    g, x, phi = _case()
    basis = np.linalg.qr(np.random.default_rng(9).standard_normal((4, 4)))[0]
    grads = apply_vjp(g, x, phi, magnitude=np.array([1.5, 0.5]), basis=basis, rotary_dim=4)
    assert [None if a is None else a.shape for a in grads] == [(3, 5), (3, 2), (2,), (4, 4)]


@pytest.mark.parametrize("layout", ["interleaved", "half"])
def test_vjp_names_a_non_finite_pass_through_feature(layout):
    """A NaN or inf in a pass-through feature never reaches the angle gradient, so it is
    checked on its own: in x and in grad, with angles (T, P) = (3, 2), D = 5, rotary 4."""
    g, x, phi = _case()
    assert np.all(np.isfinite(apply_vjp(g, x, phi, layout=layout, rotary_dim=4)[1]))
    bad_x = x.copy()
    bad_x[1, 4] = np.nan
    with pytest.raises(ValueError, match="x must be finite"):
        apply_vjp(g, bad_x, phi, layout=layout, rotary_dim=4)
    bad_g = g.copy()
    bad_g[2, 4] = np.inf
    with pytest.raises(ValueError, match="grad must be finite"):
        apply_vjp(bad_g, x, phi, layout=layout, rotary_dim=4)
    # the forward pass names it too
    with pytest.raises(ValueError, match="x must be finite"):
        apply(bad_x, phi, layout=layout, rotary_dim=4)
