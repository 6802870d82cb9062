"""Tests of refimpl.rope.layouts: the layout permutation and Meta <-> HF q/k conversion."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rope_cases import rotary_dim

from refimpl.rope import angles, apply, inv_freq, layout_permutation, permute_qk_rows

layouts = st.sampled_from(["interleaved", "half"])


def test_fixtures_for_head_dim_8():
    """convert_llama_weights_to_hf.py permute: HF row j <- Meta row pi(j),
    pi = [0,2,4,6,1,3,5,7]; and the inverse."""
    np.testing.assert_array_equal(layout_permutation(8, "interleaved", "half"),
                                  [0, 2, 4, 6, 1, 3, 5, 7])
    np.testing.assert_array_equal(layout_permutation(8, "half", "interleaved"),
                                  [0, 4, 1, 5, 2, 6, 3, 7])
    np.testing.assert_array_equal(layout_permutation(6, "interleaved", "half", rotary_dim=4),
                                  [0, 2, 1, 3, 4, 5])
    np.testing.assert_array_equal(layout_permutation(5, "half", "half", rotary_dim=4),
                                  np.arange(5))


def test_matches_the_reshape_swap_reshape_of_the_conversion_script():
    """Meta -> HF is reshape(P, 2) -> transpose -> flatten of each head's rows."""
    dim = 12
    rows = np.arange(dim)
    swapped = rows.reshape(dim // 2, 2).T.reshape(-1)
    np.testing.assert_array_equal(layout_permutation(dim, "interleaved", "half"), swapped)
    np.testing.assert_array_equal(layout_permutation(dim, "half", "interleaved"),
                                  rows.reshape(2, dim // 2).T.reshape(-1))


@given(st.integers(0, 20), st.integers(0, 6), layouts, layouts)
def test_permutations_are_mutually_inverse(pairs, extra, src, dst):
    dim = 2 * pairs + extra
    forward = layout_permutation(dim, src, dst, rotary_dim=2 * pairs)
    backward = layout_permutation(dim, dst, src, rotary_dim=2 * pairs)
    assert sorted(forward.tolist()) == list(range(dim))
    np.testing.assert_array_equal(forward[backward], np.arange(dim))
    np.testing.assert_array_equal(forward[2 * pairs:], np.arange(2 * pairs, dim))


@given(st.integers(1, 8), st.integers(0, 3), st.integers(0, 2**32 - 1))
def test_half_of_permuted_equals_permuted_interleaved(pairs, extra, seed):
    """half(pi x) = pi interleaved(x) for the same frequencies, with partial rotary."""
    rng = np.random.default_rng(seed)
    dim = 2 * pairs + extra
    x, phi = rng.standard_normal((3, dim)), rng.uniform(-100, 100, (3, pairs))
    perm = layout_permutation(dim, "interleaved", "half", rotary_dim=2 * pairs)
    np.testing.assert_allclose(apply(x[:, perm], phi, layout="half", rotary_dim=rotary_dim(phi)),
                               apply(x, phi, layout="interleaved", rotary_dim=rotary_dim(phi))[:,
                                                                                               perm],
                               rtol=0, atol=8 * np.finfo(float).eps * np.abs(x).max())


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(0, 2),
       st.integers(0, 2**32 - 1), layouts)
def test_converting_qk_weights_leaves_every_attention_score_unchanged(
        kv_heads, group, pairs, extra, seed, src):
    """Grouped-query attention; q and k projections with biases; partial rotary."""
    rng = np.random.default_rng(seed)
    dst = "half" if src == "interleaved" else "interleaved"
    heads, head_dim, width, tokens = kv_heads * group, 2 * pairs + extra, 5, 4
    w_q, b_q = rng.standard_normal((heads * head_dim, width)), rng.standard_normal(heads * head_dim)
    w_k = rng.standard_normal((kv_heads * head_dim, width))
    b_k = rng.standard_normal(kv_heads * head_dim)
    x = rng.standard_normal((tokens, width))
    phi = angles(np.arange(tokens) * 7.0, inv_freq(2 * pairs))

    def scores(w_q, b_q, w_k, b_k, layout):
        q = (x @ w_q.T + b_q).reshape(tokens, heads, head_dim).transpose(1, 0, 2)
        k = (x @ w_k.T + b_k).reshape(tokens, kv_heads, head_dim).transpose(1, 0, 2)
        width = rotary_dim(phi)
        q = apply(q, phi, layout=layout, rotary_dim=width)
        k = apply(k, phi, layout=layout, rotary_dim=width)
        return q @ np.repeat(k, group, axis=0).transpose(0, 2, 1)

    def convert(rows, count):
        return permute_qk_rows(rows, count, src, dst, rotary_dim=2 * pairs, head_dim=head_dim)
    before = scores(w_q, b_q, w_k, b_k, src)
    after = scores(convert(w_q, heads), convert(b_q, heads), convert(w_k, kv_heads),
                   convert(b_k, kv_heads), dst)
    np.testing.assert_allclose(after, before, rtol=0, atol=1e-12 * np.abs(before).max())
    # a wrong layout after conversion (the classic silent bug) changes the scores
    if pairs > 1:
        wrong = scores(convert(w_q, heads), convert(b_q, heads), convert(w_k, kv_heads),
                       convert(b_k, kv_heads), src)
        assert not np.allclose(wrong, before, rtol=1e-6)


def test_round_trip_restores_the_weight():
    w = np.random.default_rng(0).standard_normal((3 * 8, 5))
    there = permute_qk_rows(w, 3, "interleaved", "half")
    np.testing.assert_array_equal(permute_qk_rows(there, 3, "half", "interleaved"), w)
    np.testing.assert_array_equal(there[8:16], w[8:16][[0, 2, 4, 6, 1, 3, 5, 7]])


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="rotary_dim"):
        layout_permutation(8, "interleaved", "half", rotary_dim=5)
    with pytest.raises(ValueError, match="rotary_dim"):
        layout_permutation(8, "interleaved", "half", rotary_dim=10)
    with pytest.raises(ValueError, match="src"):
        layout_permutation(8, "neox", "half")
    with pytest.raises(ValueError, match="dst"):
        layout_permutation(8, "half", "gptj")
    with pytest.raises(ValueError, match="num_heads=3"):
        permute_qk_rows(np.ones((8, 2)), 3, "interleaved", "half")
    with pytest.raises(ValueError, match="weight must have at least 1"):
        permute_qk_rows(1.0, 1, "interleaved", "half")
