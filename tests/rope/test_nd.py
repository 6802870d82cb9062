"""Tests of refimpl.rope.nd: N-D RoPE as ``apply(x, positions @ F)``.

The RoPE properties (relativity, orthogonality, composition) are checked through the
dense matrix ``R(p) = apply(I, p @ F).T``, for every builder, both layouts, with and
without a change of basis. Fixtures come from the RoPE-2D post (kexue.fm/archives/8397)
and transformers 5.23.0 models/qwen2_vl/modeling_qwen2_vl.py.
"""

import functools

import numpy as np
import pytest
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from refimpl.gradcheck import assert_vjp
from refimpl.rope import angles, apply, apply_vjp, inv_freq
from refimpl.rope.nd import (
    axial_frequencies,
    axis_interleaved_frequencies,
    frequencies_from_axis_map,
    mixed_frequencies,
    mrope_axis_map,
    mrope_frequencies,
    nd_angles,
    nd_angles_vjp,
)

BUILDERS = ("axial", "axis_interleaved", "mixed", "mrope", "mrope_interleaved", "learned")


@st.composite
def rope_nd(draw, with_basis=None):
    """``(F, layout, basis)``: n_axes in 1..4, D a multiple of 2 n_axes up to 64.

    ``learned`` is an arbitrary real F (a trained RoPE-Mixed), including zero and
    repeated columns; ``basis`` is a Haar-random orthogonal Q or None.
    """
    builder = draw(st.sampled_from(BUILDERS))
    n_axes = 2 if builder == "mixed" else draw(st.integers(1, 4))
    dim = 2 * n_axes * draw(st.integers(1, 32 // n_axes))
    if builder == "mixed" and dim % 4:
        dim *= 2
    base = draw(st.sampled_from([10.0, 100.0, 1e4, 1e6]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if builder == "axial":
        F = axial_frequencies(dim, n_axes, base)
    elif builder == "axis_interleaved":
        F = axis_interleaved_frequencies(dim, n_axes, base)
    elif builder == "mixed":
        F = mixed_frequencies(dim, 1, rng=rng)[0]
    elif builder.startswith("mrope"):
        cuts = np.sort(rng.integers(0, dim // 2 + 1, size=n_axes - 1))
        sections = np.diff(np.concatenate([[0], cuts, [dim // 2]]))
        F = mrope_frequencies(dim, sections, base=base, interleaved=builder.endswith("ed"))
    else:
        F = rng.uniform(-3, 3, size=(n_axes, dim // 2)) * rng.integers(0, 2, size=dim // 2)
    layout = draw(st.sampled_from(["interleaved", "half"]))
    use_basis = draw(st.booleans()) if with_basis is None else with_basis
    basis = scipy.stats.ortho_group.rvs(dim, random_state=rng) if use_basis else None
    return F, layout, basis


def positions(n_axes):
    """Real positions in [-40, 40], shape (n_axes,)."""
    coordinate = st.floats(-40, 40, allow_nan=False, allow_subnormal=False)
    return st.lists(coordinate, min_size=n_axes, max_size=n_axes).map(np.array)


def dense(p, F, layout, basis):
    """``R(p)`` as a matrix: ``apply`` maps the row ``e_i`` to column ``i`` of ``R``."""
    dim = 2 * F.shape[-1]
    return apply(np.eye(dim), nd_angles(p, F), layout=layout, basis=basis).T


# ---------------------------------------------------------------- RoPE properties

@given(rope_nd(), st.data())
def test_relativity_orthogonality_composition(case, data):
    F, layout, basis = case
    p, q = data.draw(positions(F.shape[0])), data.draw(positions(F.shape[0]))
    R = functools.partial(dense, F=F, layout=layout, basis=basis)
    Rp, Rq = R(p), R(q)
    eye = np.eye(Rp.shape[0])
    np.testing.assert_allclose(Rp.T @ Rq, R(q - p), atol=1e-11)
    np.testing.assert_allclose(Rp @ Rq, R(p + q), atol=1e-11)
    np.testing.assert_allclose(Rp.T @ Rp, eye, atol=1e-12)
    assert np.linalg.det(Rp) == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(R(0 * p), eye, atol=1e-15)


@given(rope_nd(), st.data())
def test_scores_invariant_under_common_shift(case, data):
    F, layout, basis = case
    n_axes, dim = F.shape[0], 2 * F.shape[1]
    p, r, shift = (data.draw(positions(n_axes)) for _ in range(3))
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((2, dim))
    rotate = lambda v, at: apply(v, nd_angles(at, F), layout=layout, basis=basis)
    score = rotate(q, p) @ rotate(k, r)
    assert rotate(q, p + shift) @ rotate(k, r + shift) == pytest.approx(score, abs=1e-10)
    assert q @ rotate(k, r - p) == pytest.approx(score, abs=1e-10)


@given(st.integers(1, 4), st.integers(1, 8), st.sampled_from(["interleaved", "half"]), st.data())
def test_axial_separability(n_axes, pairs_per_axis, layout, data):
    # Changing every coordinate except axis k leaves axis k's features bit-identical.
    dim = 2 * n_axes * pairs_per_axis
    F = axial_frequencies(dim, n_axes)
    p, other = data.draw(positions(n_axes)), data.draw(positions(n_axes))
    x = np.random.default_rng(1).standard_normal(dim)
    y = apply(x, nd_angles(p, F), layout=layout)
    pairs = np.arange(dim // 2).reshape(n_axes, pairs_per_axis)
    for k in range(n_axes):
        moved = other.copy()
        moved[k] = p[k]
        z = apply(x, nd_angles(moved, F), layout=layout)
        owned = np.concatenate([2 * pairs[k], 2 * pairs[k] + 1] if layout == "interleaved"
                               else [pairs[k], pairs[k] + dim // 2])
        np.testing.assert_array_equal(z[owned], y[owned])


@given(st.integers(1, 4), st.integers(1, 8), st.floats(-1e4, 1e4), st.sampled_from([100.0, 1e4]))
def test_axis_interleaved_on_the_diagonal_is_1d_rope(n_axes, pairs_per_axis, t, base):
    dim = 2 * n_axes * pairs_per_axis
    F = axis_interleaved_frequencies(dim, n_axes, base)
    np.testing.assert_array_equal(nd_angles(np.full(n_axes, t), F), angles(t, inv_freq(dim, base)))


@given(st.lists(st.integers(0, 12), min_size=1, max_size=4).filter(lambda s: sum(s) > 0),
       st.booleans(), st.floats(-1e5, 1e5), st.sampled_from(["interleaved", "half"]))
def test_mrope_text_tokens_are_1d_rope(sections, interleaved, t, layout):
    dim = 2 * sum(sections)
    F = mrope_frequencies(dim, sections, base=1e6, interleaved=interleaved)
    x = np.random.default_rng(2).standard_normal(dim)
    expected = apply(x, angles(t, inv_freq(dim, 1e6)), layout=layout)
    np.testing.assert_array_equal(apply(x, nd_angles(np.full(len(sections), t), F),
                                        layout=layout), expected)


@given(st.integers(1, 32), st.floats(-1e4, 1e4))
def test_one_axis_is_1d_rope(pairs, t):
    np.testing.assert_array_equal(nd_angles([t], axial_frequencies(2 * pairs, 1)),
                                  angles(t, inv_freq(2 * pairs)))


# ---------------------------------------------------------------- fixtures

def test_rope2d_split_fixture():
    # kexue.fm/archives/8397: the split(q=[1..8], x=1, y=2), interleaved, base 1e4.
    q = np.arange(1.0, 9.0)
    F = axial_frequencies(8, 2)
    expected = [-1.14264, 1.922076, 2.959851, 4.0298, -7.536519, 2.049606, 6.838611, 8.138391]
    np.testing.assert_allclose(apply(q, nd_angles([1, 2], F)), expected, atol=5e-7)
    np.testing.assert_array_equal(apply(q, nd_angles([0, 0], F)), q)
    # The x half alone is 1-D RoPE of width 4 at m=1 (§B.8, rope1d([1,2,3,4], m=1)).
    np.testing.assert_allclose(apply(q[:4], angles(1, inv_freq(4))), expected[:4], atol=5e-7)


def test_minimal_rope2d_matrix_fixture():
    # §B.2/§B.8: R_{1,2} with one theta = 1 block per axis is blockdiag(rot(1), rot(2)).
    R = dense([1.0, 2.0], np.eye(2), "interleaved", None)
    expected = [[0.540302, -0.841471, 0, 0], [0.841471, 0.540302, 0, 0],
                [0, 0, -0.416147, -0.909297], [0, 0, 0.909297, -0.416147]]
    np.testing.assert_allclose(R, expected, atol=5e-7)


def test_translation_invariance_example():
    # §B.8: (R_{3,4} q).(R_{10,-2} k) = (R_{10,15} q).(R_{17,9} k) = q.(R_{7,-6} k).
    # The note's value -3.905547 comes from its script's random q, k, which it does not
    # list, so the three-way equality is checked with our own q, k.
    q, k = np.random.default_rng(0).standard_normal((2, 8))
    F = axial_frequencies(8, 2)
    rotate = lambda v, p: apply(v, nd_angles(p, F))
    first = rotate(q, [3, 4]) @ rotate(k, [10, -2])
    assert rotate(q, [10, 15]) @ rotate(k, [17, 9]) == pytest.approx(first, abs=1e-12)
    assert q @ rotate(k, [7, -6]) == pytest.approx(first, abs=1e-12)


def test_axial_frequencies_match_timm_and_eva_bands():
    # timm freq_bands(D/4, T, step=1) = 1 / T^(j / (D/4)) per axis; EVA-02 1/T^((0,2,..)/(D/2)).
    dim, T = 64, 10000.0
    bands = 1.0 / T ** (np.arange(dim // 4) / (dim // 4))
    F = axial_frequencies(dim, 2, T)
    np.testing.assert_allclose(F[0, : dim // 4], bands, rtol=1e-15)
    np.testing.assert_allclose(F[1, dim // 4:], bands, rtol=1e-15)
    assert not F[0, dim // 4:].any() and not F[1, : dim // 4].any()


def test_mrope_qwen2vl_chunked_sections():
    # transformers 5.23.0 Qwen2-VL: [16, 24, 24] -> slots [0,16) t, [16,40) h, [40,64) w.
    axis = mrope_axis_map([16, 24, 24])
    np.testing.assert_array_equal(axis, [0] * 16 + [1] * 24 + [2] * 24)


def test_mrope_qwen3vl_interleaved_sections():
    # §2.3: [24, 20, 20] with P = 64 gives T,H,W,T,H,W,... up to slot 59, then T for 60-63.
    axis = mrope_axis_map([24, 20, 20], interleaved=True)
    np.testing.assert_array_equal(axis[:60], np.tile([0, 1, 2], 20))
    np.testing.assert_array_equal(axis[60:], [0, 0, 0, 0])
    np.testing.assert_array_equal(np.bincount(axis), [24, 20, 20])


@given(st.lists(st.integers(0, 10), min_size=3, max_size=3).filter(lambda s: sum(s) > 0),
       st.booleans())
def test_mrope_matches_hugging_face_table_forms(sections, interleaved):
    # Transcriptions of the two HF forms (transformers Qwen2-VL / Qwen3-VL), applied to the
    # per-axis 1-D angle tables: Qwen2-VL splits the duplicated half-layout table into
    # chunks mrope_section * 2 and takes chunk i from axis i % 3; Qwen3-VL overwrites
    # slots offset::3 below 3 * section with axis offset (offset = 1, 2).
    dim = 2 * sum(sections)
    thw = np.array([[3.0, 5.0, 7.0], [11.0, 13.0, 17.0]])
    per_axis = thw[..., None] * inv_freq(dim, 1e6)                   # (tokens, 3, P)
    if interleaved:
        table = per_axis[:, 0].copy()
        for offset in (1, 2):
            index = slice(offset, 3 * sections[offset], 3)
            table[:, index] = per_axis[:, offset, index]
        expected = np.concatenate([table, table], axis=-1)
    else:
        doubled = np.concatenate([per_axis, per_axis], axis=-1)
        chunks = np.split(doubled, np.cumsum(sections * 2)[:-1], axis=-1)
        expected = np.concatenate([c[:, i % 3] for i, c in enumerate(chunks)], axis=-1)
    ours = nd_angles(thw, mrope_frequencies(dim, sections, base=1e6, interleaved=interleaved))
    np.testing.assert_array_equal(np.concatenate([ours, ours], axis=-1), expected)


# ---------------------------------------------------------------- RoPE-Mixed

@given(st.integers(1, 16), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_mixed_init_structure(quarter, n_heads, seed):
    dim = 4 * quarter
    F = mixed_frequencies(dim, n_heads, rng=seed)
    assert F.shape == (n_heads, 2, dim // 2)
    magnitude = 10.0 ** (-4 * np.arange(quarter) / dim)
    first, second = F[..., :quarter], F[..., quarter:]
    expected = np.broadcast_to(magnitude, (n_heads, quarter))
    np.testing.assert_allclose(np.hypot(*np.moveaxis(first, 1, 0)), expected, rtol=1e-14)
    np.testing.assert_allclose(np.hypot(*np.moveaxis(second, 1, 0)), expected, rtol=1e-14)
    # One direction per head: every pair of the first group points the same way, and
    # the second group is that direction turned by +90 degrees.
    direction = first / magnitude
    np.testing.assert_allclose(direction, np.broadcast_to(direction[..., :1], direction.shape),
                               atol=1e-14)
    np.testing.assert_allclose(second / magnitude, np.stack([-direction[:, 1], direction[:, 0]],
                                                            1), atol=1e-14)
    np.testing.assert_array_equal(mixed_frequencies(dim, n_heads, rng=seed), F)


def test_mixed_init_angle_is_uniform():
    # KS test of alpha over 20000 heads; p > 1e-7 fails a correct sampler with
    # probability 1e-7. Power: alpha ~ U[0, pi) (D = 0.5) or a fixed alpha is rejected
    # with p ~ 0; a sampler off by a few percent of 2 pi (D ~ 0.05) gives p < 1e-40.
    F = mixed_frequencies(4, 20000, rng=12345)
    alpha = np.mod(np.arctan2(F[:, 1, 0], F[:, 0, 0]), 2 * np.pi)
    assert scipy.stats.kstest(alpha, scipy.stats.uniform(0, 2 * np.pi).cdf).pvalue > 1e-7


def test_mixed_init_temperature_and_seed():
    F = mixed_frequencies(8, 1, temperature=100.0, rng=np.random.default_rng(3))
    np.testing.assert_allclose(np.hypot(F[0, 0], F[0, 1]), [1.0, 0.1, 1.0, 0.1], rtol=1e-14)
    assert not np.array_equal(mixed_frequencies(8, 1, rng=1), mixed_frequencies(8, 1, rng=2))


# ---------------------------------------------------------------- gradients

@given(st.integers(1, 3), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_nd_angles_vjp_gradcheck(n_axes, pairs, seed):
    # Per-head F (heads, 1, n_axes, P) against token positions (tokens, n_axes).
    rng = np.random.default_rng(seed)
    p, F = rng.uniform(-3, 3, (5, n_axes)), rng.standard_normal((2, 1, n_axes, pairs))
    assert_vjp(nd_angles, nd_angles_vjp, [p, F], rng=rng)


def rope_nd_of(x, F, basis, p, layout):
    """Definition-level ``Q R(p @ F) Q^T x`` valid for any ``Q`` (finite differences
    leave the orthogonal group, where ``apply`` rightly refuses the basis)."""
    dim = 2 * F.shape[-1]
    R = apply(np.eye(dim), nd_angles(p, F)[..., None, :], layout=layout).swapaxes(-1, -2)
    return np.einsum("ij,...jk,lk,...l->...i", basis, R, basis, x)


def rope_nd_vjp(grad, x, F, basis, p, layout):
    """Chain rule: ``apply_vjp`` then ``nd_angles_vjp`` for F."""
    phi = nd_angles(p, F)
    grad_x, grad_phi, _, grad_basis = apply_vjp(grad, x, phi, layout=layout, basis=basis)
    return grad_x, nd_angles_vjp(grad_phi, p, F)[1], grad_basis


@given(rope_nd(with_basis=True), st.integers(0, 2**32 - 1))
def test_gradcheck_x_frequencies_and_basis(case, seed):
    F, layout, basis = case
    if F.shape[1] > 4:  # keep the finite differences over the basis cheap
        F = F[:, :4]
        basis = scipy.stats.ortho_group.rvs(8, random_state=seed)
    rng = np.random.default_rng(seed)
    p = rng.uniform(-3, 3, (3, F.shape[0]))
    x = rng.standard_normal((3, 2 * F.shape[1]))
    np.testing.assert_allclose(rope_nd_of(x, F, basis, p, layout),
                               apply(x, nd_angles(p, F), layout=layout, basis=basis), atol=1e-12)
    assert_vjp(functools.partial(rope_nd_of, p=p, layout=layout),
              functools.partial(rope_nd_vjp, p=p, layout=layout), [x, F, basis], rng=rng)


# ---------------------------------------------------------------- bad input

def test_bad_input():
    with pytest.raises(ValueError, match="rotary_dim"):
        axial_frequencies(6, 2)
    with pytest.raises(ValueError, match="n_axes"):
        axis_interleaved_frequencies(8, 0)
    with pytest.raises(ValueError, match="rotary_dim"):
        mixed_frequencies(6)
    with pytest.raises(TypeError, match="rng"):
        mixed_frequencies(8, rng="seed")
    with pytest.raises(ValueError, match="temperature"):
        mixed_frequencies(8, temperature=0.0)
    with pytest.raises(ValueError, match="sections"):
        mrope_frequencies(8, [1, 1, 1])
    with pytest.raises(TypeError, match="sections"):
        mrope_axis_map(3)
    with pytest.raises(ValueError, match="sections"):
        mrope_axis_map([0, 0])
    with pytest.raises(ValueError, match="positions"):
        nd_angles([1.0, 2.0, 3.0], axial_frequencies(8, 2))
    with pytest.raises(ValueError, match="frequencies"):
        nd_angles([1.0], [1.0, 0.1])
    with pytest.raises(ValueError, match="positions"):
        nd_angles([[np.nan, 1.0]], axial_frequencies(8, 2))
    with pytest.raises(ValueError, match="axis_of_pair"):
        frequencies_from_axis_map([0, 2], [1.0, 1.0], 2)
    with pytest.raises(ValueError, match="shapes do not broadcast"):
        nd_angles(np.zeros((3, 2)), np.zeros((4, 2, 2)))
