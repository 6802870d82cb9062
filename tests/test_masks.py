"""Masks: the research note's example matrices, the rules for any segment layout, errors."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.masks import (
    as_mask,
    bidirectional_mask,
    causal_mask,
    independent_mask,
    padding_mask,
    uniae_mask,
    unilm_mask,
)

# vmf_univae_dimension.md §2.2: source [CLS] a b [SEP], target [CLS] a b [SEP]
SEGMENTS = [0, 0, 0, 0, 1, 1, 1, 1]
UNILM = """
11110000
11110000
11110000
11110000
11111000
11111100
11111110
11111111"""
INDEPENDENT = """
11110000
11110000
11110000
11110000
00001000
00001100
00001110
00001111"""
UNIAE = """
11110000
11110000
11110000
11110000
10001000
10001100
10001110
10001111"""


def parse(text):
    return np.array([[c == "1" for c in row] for row in text.split()])


@pytest.mark.parametrize("build, expected", [(unilm_mask, UNILM),
                                             (independent_mask, INDEPENDENT),
                                             (uniae_mask, UNIAE)])
def test_research_note_example_matrices(build, expected):
    np.testing.assert_array_equal(build(SEGMENTS), parse(expected))


layouts = st.tuples(st.integers(1, 6), st.integers(0, 6))


@given(layouts)
def test_segment_rules_for_any_source_target_split(layout):
    n_source, n_target = layout
    s = np.array([0] * n_source + [1] * n_target)
    src, tgt = s == 0, s == 1
    unilm, indep, uniae = unilm_mask(s), independent_mask(s), uniae_mask(s)
    causal = causal_mask(len(s))
    for m in (unilm, indep, uniae):
        assert m[np.ix_(src, src)].all()             # source bidirectional
        assert not m[np.ix_(src, tgt)].any()         # source never sees the target
        np.testing.assert_array_equal(m[np.ix_(tgt, tgt)], causal[np.ix_(tgt, tgt)])
    assert unilm[np.ix_(tgt, src)].all()             # UniLM: target sees all of the source
    assert not indep[np.ix_(tgt, src)].any()         # independent: none of it
    cross = uniae[np.ix_(tgt, src)]                  # UniAE: only position 0
    assert cross[:, 0].all() and not cross[:, 1:].any()
    np.testing.assert_array_equal(uniae, indep | (np.arange(len(s)) == 0))


@given(st.lists(st.integers(0, 1), min_size=1, max_size=9))
def test_unilm_formula_for_any_segment_sequence(segments):
    c = np.cumsum(segments)
    expected = np.array([[c[j] <= c[i] for j in range(len(c))] for i in range(len(c))])
    np.testing.assert_array_equal(unilm_mask(segments), expected)
    same = np.equal.outer(segments, segments)
    np.testing.assert_array_equal(independent_mask(segments), expected & same)


def test_batched_segments():
    batch = np.array([SEGMENTS, [0] * 8])
    masks = uniae_mask(batch)
    assert masks.shape == (2, 8, 8)
    np.testing.assert_array_equal(masks[0], parse(UNIAE))
    assert masks[1].all()


def test_causal_bidirectional_padding():
    np.testing.assert_array_equal(causal_mask(3), [[1, 0, 0], [1, 1, 0], [1, 1, 1]])
    assert bidirectional_mask(4).all() and bidirectional_mask(4).shape == (4, 4)
    pad = padding_mask([3, 0, 1], 3)
    assert pad.shape == (3, 3, 3)
    np.testing.assert_array_equal(pad[0], np.ones((3, 3)))
    assert not pad[1].any()                          # length 0: every row fully masked
    np.testing.assert_array_equal(pad[2], [[1, 0, 0]] * 3)
    combined = causal_mask(3) & padding_mask([2], 3)
    np.testing.assert_array_equal(combined[0], [[1, 0, 0], [1, 1, 0], [1, 1, 0]])


def test_as_mask():
    assert as_mask(np.array([[1, 0]]), (2, 2)).dtype == bool
    with pytest.raises(TypeError, match="mask must be a boolean"):
        as_mask([[0.5, 1.0]], (2, 2))
    with pytest.raises(TypeError, match="mask must be a boolean"):
        as_mask([[2, 1]], (2, 2))
    with pytest.raises(ValueError, match=r"mask of shape \(3, 3\)"):
        as_mask(np.ones((3, 3), bool), (2, 2))
    with pytest.raises(ValueError, match="does not broadcast"):
        as_mask(np.ones((4, 2, 2), bool), (2, 2))    # would enlarge the batch


@pytest.mark.parametrize("call, error, match", [
    (lambda: causal_mask(0), ValueError, "length"),
    (lambda: causal_mask(2.5), TypeError, "length"),
    (lambda: padding_mask([4], 3), ValueError, "lengths"),
    (lambda: padding_mask([-1], 3), ValueError, "lengths"),
    (lambda: padding_mask([1.5], 3), TypeError, "lengths"),
    (lambda: unilm_mask([0, 2]), ValueError, "segment_ids"),
    (lambda: uniae_mask(np.array([], dtype=int)), ValueError, "segment_ids"),
    (lambda: independent_mask([0.0, 1.0]), TypeError, "segment_ids"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()
