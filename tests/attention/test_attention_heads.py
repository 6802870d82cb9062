"""Heads (refimpl/attention/heads.py): split, merge, and the key/value head sharing of GQA."""

import numpy as np
import pytest

from refimpl.attention import merge_heads, split_heads


def test_split_and_merge_heads():
    x = np.arange(24.0).reshape(2, 3, 4)
    heads = split_heads(x, 2)
    assert heads.shape == (2, 2, 3, 2)
    np.testing.assert_array_equal(heads[:, 1], x[..., 2:])
    np.testing.assert_array_equal(merge_heads(heads), x)
    with pytest.raises(ValueError, match="n_heads"):
        split_heads(x, 3)
    empty = np.zeros((0, 3, 4))                    # an empty batch round-trips too
    assert merge_heads(split_heads(empty, 2)).shape == (0, 3, 4)
