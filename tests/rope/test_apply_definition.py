"""refimpl.rope.apply_definition / apply_vjp_definition: the textbook 2x2 rotation of each
pair, and the fast forms (apply, apply_vjp) tied to it.

Error model used by every tolerance here. Both forms evaluate ``np.cos`` and ``np.sin`` on
the same float64 angle array, so the error of the angle itself (``u |phi|`` when
``phi = p * omega`` is rounded, amplified by ``|x|`` in the output) and the argument
reduction of cos/sin at large ``|phi|`` are common to both and cancel; libm's cos/sin are
within an ulp of the cosine of the rounded angle at any ``|phi|``. What remains is the
arithmetic of the rotation: an output entry ``m (x1 cos - x2 sin)`` is two products and a
sum in either form (the fast one as the real part of a complex product with the
pre-multiplied ``m cos + i m sin``), each within ``3 u |m| (|x1| + |x2|)`` of the exact
value, ``6 u`` for the difference; 8 u is the tolerance. A change of basis adds the two
length-``n = 2P`` matrix products, each entry within ``n u ||x_rot||_2`` (rows of an
orthogonal Q have unit norm), in both forms. Gradients that are summed over broadcast
axes (angles, magnitude, basis) add the summation error, ``N u`` times the sum of the
absolute terms for ``N`` terms, in both forms and in different orders. Entries near the
subnormal range round absolutely, ``2^-1074`` per operation.
"""

import functools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from rope_cases import rotary_dim

from refimpl._broadcasting import sum_to_shape
from refimpl.gradcheck import assert_vjp
from refimpl.rope import (
    apply,
    apply_definition,
    apply_vjp,
    apply_vjp_definition,
    rotation_matrix,
)

U = np.finfo(np.float64).eps
TINY = 2.0**-1074
LAYOUTS = ("interleaved", "half")

#: Batch shapes of x and of the angles; every pair broadcasts (the angles may carry more
#: axes than x, and either side may have a stretched size-1 axis).
X_BATCHES = [(), (3,), (2, 3), (2, 2, 3), (2, 1, 3)]
ANGLE_BATCHES = [(), (3,), (1, 3), (2, 3)]


@st.composite
def rope_cases(draw):
    """x, angles, the options and an upstream gradient for one call.

    x mixes ordinary entries with adversarial ones (0, -0.0, subnormals) and scales 1e-3
    to 1e6; angles reach 1e4 radians; partial rotary adds 0-3 pass-through features; the
    magnitude is absent, one number, one per pair or one per angle; the basis absent or a random
    orthogonal matrix.
    """
    pairs = draw(st.integers(1, 5))
    dim = 2 * pairs + draw(st.integers(0, 3))
    x_batch, angle_batch = draw(st.sampled_from(X_BATCHES)), draw(st.sampled_from(ANGLE_BATCHES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal(x_batch + (dim,)) * draw(st.sampled_from([1.0, 1e-3, 1e6]))
    special = draw(st.lists(st.sampled_from([0.0, -0.0, 5e-324, 1e-300]), max_size=3))
    x.reshape(-1)[: len(special)] = special[: x.size]
    phi = rng.uniform(-1, 1, angle_batch + (pairs,)) * draw(st.sampled_from([1.0, 100.0, 1e4]))
    options = {"layout": draw(st.sampled_from(LAYOUTS))}
    magnitude_shape = draw(st.sampled_from([None, (), (pairs,), phi.shape]))
    if magnitude_shape is not None:
        options["magnitude"] = rng.uniform(0.1, 10.0, magnitude_shape)
    if draw(st.booleans()):
        options["basis"] = np.linalg.qr(rng.standard_normal((2 * pairs, 2 * pairs)))[0]
    shape = np.broadcast_shapes(x_batch, angle_batch) + (dim,)
    g = rng.standard_normal(shape) * draw(st.sampled_from([1.0, 1e3]))
    return x, phi, options, g


def _row_norms(a, rotary):
    """``||a[..., :rotary]||_1 >= ||a[..., :rotary]||_2`` per row, with a trailing axis of 1
    (the 1-norm bounds the 2-norm of the error model without underflowing at 1e-300)."""
    return np.sum(np.abs(a[..., :rotary]), axis=-1, keepdims=True)


def _scales(x, phi, options, g):
    """Quantities of the error model: pairs, rotary size, max |m|, the matrix-product
    factor and the number of terms summed into one angle entry."""
    rotary = 2 * phi.shape[-1]
    m = float(np.max(np.abs(options.get("magnitude", 1.0))))
    products = rotary if "basis" in options else 0
    terms = g[..., 0].size // max(phi[..., 0].size, 1)
    return rotary, m, products, terms


def _rotation_tol(v, phi, options, scale=1.0):
    """Entrywise tolerance of one rotation of ``v`` (the forward of x, or the backward
    rotation of g): 8 u |m| (|v1| + |v2|) per pair, or with a basis (8 + 2n) u |m|
    ||v_rot|| per row, plus the subnormal floor."""
    rotary = 2 * phi.shape[-1]
    m = np.max(np.abs(options.get("magnitude", 1.0)))
    if "basis" in options:
        bound = (8 + 2 * rotary) * U * m * _row_norms(v, rotary) * scale
    else:
        pair = np.abs(v[..., :rotary].reshape(v.shape[:-1] + (-1, 2))).sum(-1) \
            if options["layout"] == "interleaved" else \
            np.abs(v[..., :rotary // 2]) + np.abs(v[..., rotary // 2:rotary])
        per_pair = 8 * U * m * pair
        bound = (np.repeat(per_pair, 2, axis=-1) if options["layout"] == "interleaved"
                 else np.concatenate([per_pair, per_pair], axis=-1))
    return bound + 8 * TINY * (1 + m)


# -- the definition agrees with the fast form ---------------------------------------------

@given(rope_cases())
def test_apply_equals_its_definition(case):
    x, phi, options, _ = case
    options = {**options, "rotary_dim": rotary_dim(phi)}
    fast, definition = apply(x, phi, **options), apply_definition(x, phi, **options)
    rotary = 2 * phi.shape[-1]
    tol = _rotation_tol(np.broadcast_to(x, fast.shape), phi, options)
    assert np.all(np.abs(fast[..., :rotary] - definition[..., :rotary]) <= tol)
    assert np.array_equal(fast[..., rotary:], definition[..., rotary:])  # copied, exactly


@given(rope_cases())
def test_apply_vjp_equals_its_definition(case):
    x, phi, options, g = case
    fast = apply_vjp(g, x, phi, **options, rotary_dim=rotary_dim(phi))
    definition = apply_vjp_definition(g, x, phi, **options, rotary_dim=rotary_dim(phi))
    assert len(fast) == len(definition) == 4
    rotary, m, products, terms = _scales(x, phi, options, g)
    # grad_x: the rotation of g by -phi, then summed over the axes x was broadcast on.
    summed = g[..., 0].size // max(x[..., 0].size, 1)
    tol_x = sum_to_shape(_rotation_tol(g, phi, options), x.shape) * (1 + summed)
    assert np.all(np.abs(fast[0][..., :rotary] - definition[0][..., :rotary])
                  <= tol_x[..., :rotary])
    pass_tol = summed * U * sum_to_shape(np.abs(g[..., rotary:]), x[..., rotary:].shape)
    assert np.all(np.abs(fast[0][..., rotary:] - definition[0][..., rotary:]) <= pass_tol)
    # grad_angles and grad_magnitude: each term ~ |m| |g_pair| |x_pair| <= |m| |g| |x|
    # per row, computed within (8 + 2n) u of it; then N terms summed in either order.
    xb = np.broadcast_to(x, g.shape)
    size = _row_norms(g, rotary) * _row_norms(xb, rotary)
    budget = (8 + 2 * products + 2 * terms) * U
    floor = 16 * (terms + products + 1) * TINY * (1 + np.abs(g).max()) * max(m, 1.0)
    per_angle = sum_to_shape(np.broadcast_to(size, g.shape[:-1] + phi.shape[-1:]), phi.shape)
    assert np.all(np.abs(fast[1] - definition[1]) <= budget * max(m, 1.0) * per_angle + floor)
    if "magnitude" in options:
        shape = options["magnitude"].shape
        tol_m = budget * sum_to_shape(per_angle, shape) + floor * per_angle.size
        assert fast[2].shape == definition[2].shape == shape
        assert np.all(np.abs(fast[2] - definition[2]) <= tol_m)
    else:
        assert fast[2] is None and definition[2] is None
    if "basis" in options:
        # Each entry sums 2N terms |g_i w_j| + |x_i gz_j| <= 2 |m| |g| |x| per row.
        tol_q = budget * 2 * max(m, 1.0) * float(np.sum(size)) + floor * size.size
        assert np.all(np.abs(fast[3] - definition[3]) <= tol_q)
    else:
        assert fast[3] is None and definition[3] is None


# -- the definition is the mathematics ------------------------------------------------------

@given(rope_cases())
def test_definition_is_the_block_diagonal_matrix(case):
    """apply_definition(x) = Q R(phi) Q^T x on the rotary block, with the dense matrix of
    rotation_matrix: an independent construction (matrix entries, not pair formulas)."""
    x, phi, options, _ = case
    rotary = 2 * phi.shape[-1]
    y = apply_definition(x, phi, **options, rotary_dim=rotary_dim(phi))
    matrix = rotation_matrix(phi, rotary, options["layout"], magnitude=options.get("magnitude"))
    if "basis" in options:
        q = options["basis"]
        matrix = q @ matrix @ q.T
    dense = (matrix @ x[..., :rotary, None])[..., 0]
    # With r = 2P: the entries of Q R Q^T (formed first) are within (r + 2) u |m| of
    # exact, which the product with x spreads over ||x||_1 <= sqrt(r) ||x||_2; the product
    # itself adds r u |m| ||x||_2, the definition 8 u |m| ||x||_2 (module notes).
    m = np.max(np.abs(options.get("magnitude", 1.0)))
    factor = 8 + rotary + (rotary + 2) * (np.sqrt(rotary) + 1)
    tol = factor * U * m * _row_norms(np.broadcast_to(x, y.shape), rotary) \
        + 8 * rotary**2 * TINY * (1 + m)
    assert np.all(np.abs(y[..., :rotary] - dense) <= tol)


def test_definition_by_hand():
    """Quarter turns move each pair as the 2x2 formula says, in both layouts."""
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    quarter = np.array([np.pi / 2, np.pi])
    np.testing.assert_allclose(apply_definition(x, quarter, rotary_dim=rotary_dim(quarter)),
                               [-2.0, 1.0, -3.0, -4.0, 5.0], atol=1e-15)
    np.testing.assert_allclose(apply_definition(x, quarter, layout="half",
                                                rotary_dim=rotary_dim(quarter)),
                               [-3.0, -2.0, 1.0, -4.0, 5.0], atol=1e-15)
    np.testing.assert_allclose(apply_definition(x, quarter, magnitude=[2.0, 0.5],
                                                rotary_dim=rotary_dim(quarter)),
                               [-4.0, 2.0, -1.5, -2.0, 5.0], atol=1e-15)


def test_vjp_has_a_fixed_arity():
    """Four gradients always, None for an option that was not given."""
    rng = np.random.default_rng(0)
    x, phi, g = rng.standard_normal((2, 6)), rng.standard_normal(2), rng.standard_normal((2, 6))
    basis = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    for vjp in (apply_vjp, apply_vjp_definition):
        for magnitude in (None, np.ones(2)):
            for b in (None, basis):
                grads = vjp(g, x, phi, magnitude=magnitude, basis=b, rotary_dim=4)
                assert len(grads) == 4
                assert (grads[2] is None) == (magnitude is None)
                assert (grads[3] is None) == (b is None)


# -- gradients of the definition and of the magnitude ---------------------------------------

@given(st.sampled_from(LAYOUTS), st.booleans(), st.integers(0, 2**32 - 1))
def test_gradcheck_definition_and_magnitude(layout, with_basis, seed):
    """Both VJPs against central differences in x, angles and magnitude (broadcast as
    one per pair over a (4, 3) angle table); a basis is held fixed."""
    rng = np.random.default_rng(seed)
    x, phi = rng.standard_normal((2, 1, 4, 7)), rng.uniform(-4, 4, (4, 3))
    magnitude = rng.uniform(0.5, 2.0, 3)
    basis = np.linalg.qr(rng.standard_normal((6, 6)))[0] if with_basis else None

    def forward(x, phi, magnitude):
        return apply(x, phi, layout=layout, magnitude=magnitude, basis=basis, rotary_dim=6)

    for vjp in (apply_vjp, apply_vjp_definition):
        assert_vjp(forward, lambda g, x, phi, m, vjp=vjp: vjp(g, x, phi, layout=layout,
                                                             magnitude=m, basis=basis,
                                                             rotary_dim=6)[:3],
                  [x, phi, magnitude], rng=seed)


def test_gradcheck_definition_in_the_basis():
    """The basis gradient of the definition against finite differences of the dense
    Q R Q^T x, which is defined for any matrix Q (the definition rejects a Q that is not
    orthogonal, so it cannot be perturbed freely)."""
    rng = np.random.default_rng(11)
    x, phi = rng.standard_normal((3, 7)), rng.uniform(-4, 4, 3)
    magnitude = rng.uniform(0.5, 2.0, 3)
    basis, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    for layout in LAYOUTS:
        block = rotation_matrix(phi, 6, layout, magnitude=magnitude)

        def dense(q, block=block):
            return np.concatenate([(q @ block @ q.T @ x[:, :6, None])[..., 0], x[:, 6:]], -1)
        vjp = functools.partial(apply_vjp_definition, layout=layout, magnitude=magnitude,
                                rotary_dim=6)
        assert_vjp(dense, lambda g, q, vjp=vjp: vjp(g, x, phi, basis=q)[3], [basis], rng=2)
