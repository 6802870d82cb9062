"""Tests of refimpl.rope.apply: the rotation, its three reference forms and its backward pass."""

import functools
import importlib

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st
from rope_cases import rotary_dim

from refimpl.gradcheck import assert_vjp
from refimpl.rope import (
    BASIS_ORTHOGONALITY_TOL,
    angles,
    angles_vjp,
    apply,
    apply_vjp,
    complex_form,
    elementwise_form,
    inv_freq,
    inv_freq_vjp,
    rotation_matrix,
)

U = np.finfo(np.float64).eps
layouts = st.sampled_from(["interleaved", "half"])


@st.composite
def rope_inputs(draw, batch=(), max_pairs=5):
    """``(x, phi)`` with ``x`` of shape batch + (D,), ``phi`` of shape (P,), ``2P <= D``.

    Entries of x mix ordinary values with adversarial ones (0, -0.0, subnormals, 1e6);
    angles reach 1e4 radians (position 1e4 at the fastest frequency).
    """
    pairs = draw(st.integers(1, max_pairs))
    dim = 2 * pairs + draw(st.integers(0, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(batch + (dim,)) * draw(st.sampled_from([1.0, 1e-3, 1e6]))
    special = draw(st.lists(st.sampled_from([0.0, -0.0, 5e-324, 1e-300]), max_size=3))
    x.reshape(-1)[: len(special)] = special[: x.size]
    scale = draw(st.sampled_from([1.0, 100.0, 1e4]))
    return x, rng.uniform(-scale, scale, pairs)


def ulp_tol(x, count=8):
    """``count`` ulps of the largest pair norm: the rounding budget of one rotation."""
    return count * U * max(float(np.max(np.abs(x), initial=0.0)), 1e-300) * 2


def subnormal_tol(q, k):
    """Absolute rounding of products whose entries are subnormal: 2^-1074 per operation,
    scaled by the other vector and the number of terms."""
    return 16 * 2.0**-1074 * q.size**2 * (1 + np.max(np.abs(q)) + np.max(np.abs(k)))


# -- forms agree -----------------------------------------------------------------------

@given(rope_inputs(batch=(3,)), layouts)
def test_fast_form_equals_elementwise_and_dense_forms(inputs, layout):
    x, phi = inputs
    y = apply(x, phi, layout=layout, rotary_dim=rotary_dim(phi))
    dense = rotation_matrix(phi, x.shape[-1], layout) @ x[..., None]
    # Each output entry is a two-term dot product: a few ulps of the pair's magnitude.
    np.testing.assert_allclose(y, elementwise_form(x, phi, layout=layout,
                                                   rotary_dim=rotary_dim(phi)), rtol=0,
                               atol=ulp_tol(x))
    np.testing.assert_allclose(y, dense[..., 0], rtol=0, atol=ulp_tol(x))


@given(rope_inputs(batch=(2,)))
def test_complex_form_equals_interleaved(inputs):
    x, phi = inputs
    width = rotary_dim(phi)
    np.testing.assert_allclose(complex_form(x, phi, rotary_dim=width),
                               apply(x, phi, rotary_dim=width), rtol=0, atol=ulp_tol(x))


def test_elementwise_form_is_bitwise_the_rotate_half_formula():
    """x * cos + rotate_half(x) * sin, written as Hugging Face writes it, in float64; the
    fast path (a complex product) is within an ulp or two of it."""
    rng = np.random.default_rng(0)
    x, phi = rng.standard_normal((4, 8)), rng.uniform(-50, 50, (4, 4))
    cos, sin = np.cos(np.concatenate([phi, phi], -1)), np.sin(np.concatenate([phi, phi], -1))
    rotate_half = np.concatenate([-x[..., 4:], x[..., :4]], -1)
    expected = x * cos + rotate_half * sin
    assert np.array_equal(elementwise_form(x, phi, layout="half"), expected)
    np.testing.assert_allclose(apply(x, phi, layout="half"), expected, rtol=0, atol=ulp_tol(x))


@pytest.mark.parametrize("block_size", [50, 20, 1])
@pytest.mark.parametrize("phi_shape", [(5, 3), (1, 3), (3, 1, 3), (3,)])
def test_blocks_give_the_same_result_as_one_block(monkeypatch, block_size, phi_shape):
    """The loop over blocks (of rows, or of token spans when a row is too big) and the
    sums of angle (and magnitude) gradients across blocks, with angles broadcast in several
    ways."""
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 5, 8))
    phi, basis = rng.uniform(-5, 5, phi_shape), np.linalg.qr(rng.standard_normal((6, 6)))[0]
    g = rng.standard_normal(np.broadcast_shapes(x.shape[:-1], phi_shape[:-1]) + (8,))
    magnitude = rng.uniform(0.5, 2.0, phi_shape[-1:])
    cases = [dict(layout=layout, basis=b, magnitude=m) for layout in ("interleaved", "half")
             for b in (None, basis) for m in (None, magnitude)]
    width = rotary_dim(phi)
    whole = [(apply(x, phi, **c, rotary_dim=width), apply_vjp(g, x, phi, **c, rotary_dim=width))
             for c in cases]
    monkeypatch.setattr(importlib.import_module("refimpl.rope.apply"), "BLOCK_SIZE", block_size)
    # Equal up to rounding: BLAS (the basis products) and NumPy's SIMD loops may round an
    # ulp differently on arrays of different lengths.
    for c, (y, grads) in zip(cases, whole, strict=True):
        np.testing.assert_allclose(apply(x, phi, **c, rotary_dim=rotary_dim(phi)), y, rtol=0,
                                   atol=1e-14)
        for blocked, single in zip(apply_vjp(g, x, phi, **c, rotary_dim=rotary_dim(phi)), grads,
                                   strict=True):
            if single is None:  # the argument was not given
                assert blocked is None
                continue
            np.testing.assert_allclose(blocked, single, rtol=1e-14, atol=1e-14)


def test_fixtures_from_the_post():
    """1-D RoPE of kexue.fm/archives/8265 at base 10000, computed independently of refimpl
    from the post's formula and rounded to 6 places."""
    q4, q8 = [1.0, 2.0, 3.0, 4.0], np.arange(1.0, 9.0)
    cases = [
        (q4, 1, [-1.14264, 1.922076, 2.959851, 4.0298]),
        (q4, 2, [-2.234742, 0.077004, 2.919405, 4.059196]),
        (q8, 3, [-1.272233, -1.838865, 1.683929, 4.707907, 4.817777, 6.147278, 6.975969,
                 8.020964]),
    ]
    for q, m, expected in cases:
        y = apply(q, angles(m, inv_freq(len(q))))
        np.testing.assert_allclose(y, expected, rtol=0, atol=6e-7)


# -- the mathematics of the rotation ---------------------------------------------------

@given(rope_inputs(batch=(2,)), layouts,
       st.floats(-1e4, 1e4), st.floats(-1e4, 1e4))
def test_relative_position_invariance(inputs, layout, m, n):
    """<R_m q, R_n k> = <q, R_(n-m) k> for real m, n, any layout, partial rotary."""
    (q, k), omega = inputs
    omega = np.abs(omega) / max(np.max(np.abs(omega)), 1.0)
    width = rotary_dim(omega)
    left = (apply(q, m * omega, layout=layout, rotary_dim=width)
            @ apply(k, n * omega, layout=layout, rotary_dim=width))
    right = q @ apply(k, (n - m) * omega, layout=layout, rotary_dim=width)
    # The angles m*w, n*w and (n-m)*w are each rounded to u|angle|, so the two sides
    # see rotations that differ by about u (|m| + |n|) max(w) radians on top of the
    # dot product's own D u |q||k|; 8x that is the tolerance. Rounding in the
    # subnormal range is absolute (2^-1074 per operation), times the other vector.
    scale = q.size * np.max(np.abs(q)) * np.max(np.abs(k))  # >= |q||k|, no underflow
    tol = 8 * U * scale * (q.size + (abs(m) + abs(n)) * np.max(omega)) + subnormal_tol(q, k)
    assert abs(left - right) <= tol


@given(rope_inputs(batch=(3,)), layouts)
def test_rotation_preserves_norms(inputs, layout):
    x, phi = inputs
    y = apply(x, phi, layout=layout, rotary_dim=rotary_dim(phi))
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1),
                               rtol=8 * U * x.shape[-1], atol=1e-300)


@given(rope_inputs(), rope_inputs(), layouts)
def test_dense_matrix_is_an_orthogonal_group_homomorphism(first, second, layout):
    """R is orthogonal with det 1, R(0) = I, R(a) R(b) = R(a+b) and R(a)^T = R(-a)."""
    (_, a), (_, b) = first, second
    pairs = min(a.size, b.size)
    a, b, dim = a[:pairs], b[:pairs], 2 * pairs + 1
    ra, rb = rotation_matrix(a, dim, layout), rotation_matrix(b, dim, layout)
    eye = np.eye(dim)
    np.testing.assert_allclose(ra.T @ ra, eye, rtol=0, atol=8 * U)
    assert np.isclose(np.linalg.det(ra), 1.0, rtol=0, atol=1e-13)
    assert np.array_equal(rotation_matrix(np.zeros(pairs), dim, layout), eye)
    # cos/sin of a+b versus products of rounded cos/sin: the sum a+b is rounded too.
    tol = 8 * U * (1 + np.max(np.abs(a)) + np.max(np.abs(b)))
    np.testing.assert_allclose(ra @ rb, rotation_matrix(a + b, dim, layout), rtol=0, atol=tol)
    np.testing.assert_array_equal(ra.T, rotation_matrix(-a, dim, layout))


@given(rope_inputs(batch=(2, 3)), layouts)
def test_backward_is_forward_at_negated_angles(inputs, layout):
    g, phi = inputs
    x = np.ones_like(g)
    grad_x = apply_vjp(g, x, phi, layout=layout, rotary_dim=rotary_dim(phi))[0]
    np.testing.assert_allclose(grad_x, apply(g, -phi, layout=layout, rotary_dim=rotary_dim(-phi)),
                               rtol=0, atol=ulp_tol(g))


@given(rope_inputs(batch=(2,)), layouts)
def test_partial_rotary_passes_the_rest_through(inputs, layout):
    x, phi = inputs
    rotary = 2 * phi.size
    y = apply(x, phi, layout=layout, magnitude=3.0, rotary_dim=rotary_dim(phi))
    assert np.array_equal(y[..., rotary:], x[..., rotary:])


@given(rope_inputs(batch=(2,)), layouts, st.floats(0.1, 10.0))
def test_magnitude_scales_the_rotated_block(inputs, layout, scale):
    x, phi = inputs
    magnitude = scale * np.linspace(0.5, 1.5, phi.size)
    y = apply(x, phi, layout=layout, magnitude=magnitude, rotary_dim=rotary_dim(phi))
    expected = rotation_matrix(phi, x.shape[-1], layout, magnitude=magnitude) @ x[..., None]
    np.testing.assert_allclose(y, expected[..., 0], rtol=0, atol=ulp_tol(x) * 2 * scale)
    rotary = 2 * phi.size
    np.testing.assert_allclose(y[..., :rotary], _scaled(apply(x, phi, layout=layout,
                                                              rotary_dim=rotary_dim(phi)),
                                                        magnitude, layout)[..., :rotary],
                               rtol=0, atol=ulp_tol(x) * 4 * scale)


def _scaled(y, magnitude, layout):
    """Multiply each pair of y's rotary block by its magnitude."""
    per_feature = (np.repeat(magnitude, 2) if layout == "interleaved"
                   else np.concatenate([magnitude, magnitude]))
    out = y.copy()
    out[..., :per_feature.size] *= per_feature
    return out


def test_xpos_scaling_makes_scores_depend_on_the_offset_only():
    """lucidrains xPos: q scaled by zeta^(m/s), k by zeta^(-n/s); scores depend on m-n."""
    rng = np.random.default_rng(1)
    dim, scale_base = 8, 512.0
    q, k = rng.standard_normal((2, dim))
    omega = inv_freq(dim)
    zeta = (2 * np.arange(dim // 2) + 0.4 * dim) / (1.4 * dim)

    def score(m, n):
        return (apply(q, m * omega, magnitude=zeta ** (m / scale_base))
                @ apply(k, n * omega, magnitude=zeta ** (-n / scale_base)))
    assert np.isclose(score(3.0, 10.0), score(103.0, 110.0), rtol=1e-12)
    assert not np.isclose(score(3.0, 10.0), score(3.0, 20.0), rtol=1e-3)


@given(rope_inputs(batch=(2,)), layouts)
def test_basis_gives_conjugated_rotation(inputs, layout):
    x, phi = inputs
    rotary = 2 * phi.size
    basis, _ = np.linalg.qr(np.random.default_rng(phi.size).standard_normal((rotary, rotary)))
    y = apply(x, phi, layout=layout, basis=basis, rotary_dim=rotary_dim(phi))
    block = rotation_matrix(phi, rotary, layout)
    expected = (basis @ block @ basis.T @ x[..., :rotary, None])[..., 0]
    np.testing.assert_allclose(y[..., :rotary], expected, rtol=0, atol=ulp_tol(x) * 4 * rotary)
    assert np.array_equal(y[..., rotary:], x[..., rotary:])
    # relativity survives the change of basis
    q, k = x
    options = dict(layout=layout, basis=basis, rotary_dim=rotary_dim(phi))
    left = apply(q, 2.0 * phi, **options) @ apply(k, 5.0 * phi, **options)
    right = q @ apply(k, 3.0 * phi, **options)
    scale = q.size * np.max(np.abs(q)) * np.max(np.abs(k))  # >= |q||k|, no underflow
    assert np.isclose(left, right, rtol=0,
                      atol=1e-13 * scale * (1 + np.abs(phi).max()) + subnormal_tol(q, k))


def test_broadcasting_matches_a_loop_over_batch_and_heads():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 5, 10))
    phi = angles(np.arange(5), inv_freq(8))
    for layout in ("interleaved", "half"):
        y = apply(x, phi, layout=layout, rotary_dim=rotary_dim(phi))
        for b in range(2):
            for h in range(3):
                for t in range(5):
                    assert np.array_equal(y[b, h, t], apply(x[b, h, t], phi[t], layout=layout,
                                                            rotary_dim=rotary_dim(phi[t])))


def test_angles_may_carry_more_batch_axes_than_x():
    rng = np.random.default_rng(3)
    x, phi = rng.standard_normal((5, 6)), rng.standard_normal((2, 5, 3))
    y = apply(x, phi, layout="half")
    assert y.shape == (2, 5, 6)
    assert np.array_equal(y[1], apply(x, phi[1], layout="half"))


def test_array_likes_and_strided_inputs_give_the_same_result():
    rng = np.random.default_rng(4)
    x, phi = rng.standard_normal((6, 8)), rng.standard_normal(3)
    expected = apply(x, phi, rotary_dim=rotary_dim(phi))
    assert np.array_equal(apply(x.tolist(), phi.tolist(), rotary_dim=rotary_dim(phi.tolist())),
                          expected)
    assert np.array_equal(apply(np.asfortranarray(x), phi, rotary_dim=rotary_dim(phi)), expected)
    wide = np.zeros((6, 16))
    wide[:, ::2] = x
    assert np.array_equal(apply(wide[:, ::2], phi, rotary_dim=rotary_dim(phi)), expected)
    assert np.array_equal(apply(np.arange(4), [0.0, 0.0], rotary_dim=rotary_dim([0.0, 0.0])),
                          np.arange(4.0))


def test_huge_and_mixed_infinite_inputs():
    """Entries near the overflow threshold are valid (the fast finiteness check overflows
    and falls back without a warning); inf and -inf together are named as non-finite."""
    x = np.full((3, 4), 1e308)
    np.testing.assert_allclose(apply(x, [0.0, 0.0], layout="half"), x, rtol=1e-15)
    with pytest.raises(ValueError, match="x must be finite"):
        apply([np.inf, -np.inf, 1.0, 2.0], [1.0, 2.0])


def test_zero_pairs_is_the_identity():
    x = np.arange(3.0)
    assert np.array_equal(apply(x, np.zeros(0), rotary_dim=rotary_dim(np.zeros(0))), x)


@pytest.mark.parametrize("layout", ["interleaved", "half"])
def test_empty_batches(layout):
    grad_x, grad_angles, _, _ = apply_vjp(np.ones((0, 8)), np.ones((0, 8)), np.ones(4),
                                          layout=layout)
    assert apply(np.ones((0, 8)), np.ones(4), layout=layout).shape == (0, 8)
    assert grad_x.shape == (0, 8) and np.array_equal(grad_angles, np.zeros(4))
    assert apply(np.ones((2, 0, 8)), np.ones((0, 4)), layout=layout).shape == (2, 0, 8)


# -- angles ----------------------------------------------------------------------------

def test_angles_are_positions_times_frequencies():
    phi = angles([[0, -3], [2.5, 7]], [1.0, 0.5, 0.25])
    assert phi.shape == (2, 2, 3) and phi.dtype == np.float64
    np.testing.assert_array_equal(phi[0, 1], [-3.0, -1.5, -0.75])
    np.testing.assert_array_equal(phi[1, 0], [2.5, 1.25, 0.625])


# -- gradients -------------------------------------------------------------------------

@given(layouts, st.booleans(), st.integers(0, 2**32 - 1))
def test_gradcheck_x_and_angles(layout, with_magnitude, seed):
    rng = np.random.default_rng(seed)
    x, phi = rng.standard_normal((2, 1, 4, 7)), rng.uniform(-4, 4, (4, 3))
    magnitude = rng.uniform(0.5, 2.0, (4, 3)) if with_magnitude else None
    options = dict(layout=layout, magnitude=magnitude, rotary_dim=6)
    assert_vjp(functools.partial(apply, **options),
               lambda g, x, phi: apply_vjp(g, x, phi, **options)[:2], [x, phi], rng=seed)


@pytest.mark.parametrize("layout", ["interleaved", "half"])
def test_gradcheck_when_x_is_broadcast_by_angles(layout):
    rng = np.random.default_rng(5)
    x, phi = rng.standard_normal((4, 6)), rng.uniform(-4, 4, (3, 1, 2))
    assert_vjp(functools.partial(apply, layout=layout, rotary_dim=4),
               lambda g, x, phi: apply_vjp(g, x, phi, layout=layout, rotary_dim=4)[:2], [x, phi],
               rng=0)


@pytest.mark.parametrize("layout", ["interleaved", "half"])
def test_gradcheck_with_basis(layout):
    """x and angles by finite differences of apply; the basis by finite differences of the
    dense formula Q R Q^T x, which is defined for any matrix Q (apply itself rejects a
    Q that is not orthogonal, so it cannot be perturbed freely)."""
    rng = np.random.default_rng(6)
    x, phi = rng.standard_normal((3, 7)), rng.uniform(-4, 4, 3)
    basis, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    options = dict(layout=layout, basis=basis, rotary_dim=6)
    assert_vjp(functools.partial(apply, **options),
               lambda g, x, phi: apply_vjp(g, x, phi, **options)[:2], [x, phi], rng=1)
    block = rotation_matrix(phi, 6, layout)

    def dense(q):
        return np.concatenate([(q @ block @ q.T @ x[:, :6, None])[..., 0], x[:, 6:]], -1)
    assert_vjp(dense, lambda g, q: apply_vjp(g, x, phi, basis=q, layout=layout,
                                             rotary_dim=6)[3], [basis], rng=2)


def test_basis_gradient_along_orthogonal_curves():
    """d/dt <g, apply(x, phi, basis=Q expm(t S))> at t=0 equals <grad_basis, Q S>."""
    rng = np.random.default_rng(7)
    x, phi, g = rng.standard_normal((3, 4)), rng.uniform(-3, 3, 2), rng.standard_normal((3, 4))
    basis, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    skew = rng.standard_normal((4, 4))
    skew -= skew.T
    h = 1e-5
    plus = np.sum(g * apply(x, phi, basis=basis @ scipy.linalg.expm(h * skew)))
    minus = np.sum(g * apply(x, phi, basis=basis @ scipy.linalg.expm(-h * skew)))
    grad_basis = apply_vjp(g, x, phi, basis=basis)[3]
    assert np.isclose((plus - minus) / (2 * h), np.sum(grad_basis * (basis @ skew)),
                      rtol=1e-7, atol=1e-9)


@given(layouts, st.integers(0, 2**32 - 1))
def test_gradcheck_learnable_frequencies(layout, seed):
    """inv_freq gets sum_p p dL/dphi: chain apply_vjp with inv_freq_vjp."""
    rng = np.random.default_rng(seed)
    x, positions = rng.standard_normal((2, 5, 6)), rng.uniform(-20, 20, 5)
    omega = inv_freq(6)

    def forward(omega):
        return apply(x, angles(positions, omega), layout=layout)

    def backward(g, omega):
        return inv_freq_vjp(apply_vjp(g, x, angles(positions, omega), layout=layout)[1],
                            positions)
    assert_vjp(forward, backward, [omega], rng=seed)


def test_gradcheck_angles_vjp():
    rng = np.random.default_rng(8)
    assert_vjp(angles, angles_vjp, [rng.standard_normal((3, 1)), rng.standard_normal((4, 2))],
              rng=0)
    positions, omega = rng.standard_normal(5), rng.standard_normal(3)
    g = rng.standard_normal((5, 3))
    np.testing.assert_allclose(inv_freq_vjp(g, positions),
                               angles_vjp(g, positions, omega)[1], rtol=1e-14)


# -- bad input -------------------------------------------------------------------------

def test_errors_name_the_argument():
    x, phi = np.ones((2, 6)), np.ones(3)
    with pytest.raises(ValueError, match=r"angles of shape \(4,\) has P=4.*D=6"):
        apply(x, np.ones(4))
    with pytest.raises(ValueError, match="layout"):
        apply(x, phi, layout="neox")
    with pytest.raises(ValueError, match="x must be finite"):
        apply([[np.nan] * 6], phi)
    with pytest.raises(ValueError, match="x must be finite"):
        apply([np.inf] * 6, phi)
    with pytest.raises(ValueError, match="angles must be finite"):
        apply(x, [0.0, np.inf, 0.0])
    with pytest.raises(ValueError, match="positions must be finite"):
        angles([0.0, np.nan], [1.0])
    with pytest.raises(ValueError, match="magnitude"):
        apply(x, phi, magnitude=np.ones((2, 3)))
    with pytest.raises(ValueError, match="basis must have shape"):
        apply(x, phi, basis=np.eye(4))
    with pytest.raises(ValueError, match="basis must be orthogonal"):
        apply(x, phi, basis=np.eye(6) + BASIS_ORTHOGONALITY_TOL * 10)
    with pytest.raises(ValueError, match="grad must have"):
        apply_vjp(np.ones((3, 6)), x, phi)
    with pytest.raises(ValueError, match="grad must be finite"):
        apply_vjp(np.full((2, 6), np.nan), x, phi)
    with pytest.raises(ValueError, match="shapes do not broadcast"):
        apply(np.ones((2, 6)), np.ones((3, 3)))
    with pytest.raises(TypeError, match="x must hold real numbers"):
        apply(np.ones(6, dtype=complex), phi)
    with pytest.raises(ValueError, match="exceeds dim=4"):
        rotation_matrix(phi, 4)


def test_float32_orthogonal_basis_is_rejected():
    basis, _ = np.linalg.qr(np.random.default_rng(9).standard_normal((6, 6)))
    with pytest.raises(ValueError, match="orthogonal"):
        apply(np.ones(6), np.ones(3), basis=basis.astype(np.float32))
