"""Tests of refimpl.rope.grids: position grids, prefix tokens and axis order."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.rope import apply
from refimpl.rope.grids import (
    centred_grid,
    index_grid,
    merge_block_grid,
    pixel_grid,
    with_prefix_tokens,
)
from refimpl.rope.nd import axial_frequencies, mixed_frequencies, nd_angles

sizes = st.integers(1, 12)


@given(sizes, sizes, st.floats(-5, 5))
def test_index_grid_is_raster_order(height, width, offset):
    # Token i of a flattened (H, W) map is (row, col) = (i // W, i % W); 'xy' swaps the
    # pair (naver rope-vit: t_x = i % W, t_y = i // W) but keeps the token order.
    i = np.arange(height * width)
    ij = index_grid((height, width), offset=offset)
    xy = index_grid((height, width), axis_order="xy", offset=offset)
    np.testing.assert_array_equal(ij, np.stack([i // width, i % width], 1) + offset)
    np.testing.assert_array_equal(xy, np.stack([i % width, i // width], 1) + offset)


@given(st.lists(st.integers(1, 5), min_size=1, max_size=4))
def test_index_grid_any_number_of_axes(shape):
    expected = np.stack(np.unravel_index(np.arange(np.prod(shape)), shape), axis=1)
    np.testing.assert_array_equal(index_grid(shape), expected)


@given(sizes, sizes)
def test_pixel_grid_spans_minus_one_to_one(height, width):
    grid = pixel_grid((height, width)).reshape(height, width, 2)
    np.testing.assert_array_equal(grid[:, 0, 0], np.linspace(-1, 1, height))
    np.testing.assert_array_equal(grid[0, :, 1], np.linspace(-1, 1, width))
    if height > 1:
        assert grid[0, 0, 0] == -1.0 and grid[-1, 0, 0] == 1.0
    np.testing.assert_array_equal(pixel_grid((height, width), axis_order="xy"),
                                  pixel_grid((height, width))[:, ::-1])


def test_pixel_grid_fixture():
    np.testing.assert_array_equal(pixel_grid((5,))[:, 0], [-1.0, -0.5, 0.0, 0.5, 1.0])
    np.testing.assert_array_equal(pixel_grid((1, 2)), [[-1.0, -1.0], [-1.0, 1.0]])


@given(sizes, sizes, st.integers(0, 3), st.sampled_from(["first", "last"]))
def test_prefix_tokens_are_not_rotated(height, width, n_prefix, where):
    F = mixed_frequencies(8, 1, rng=0)[0]
    grid = index_grid((height, width), axis_order="xy")
    positions = with_prefix_tokens(grid, n_prefix, where=where)
    assert positions.shape == (height * width + n_prefix, 2)
    x = np.random.default_rng(1).standard_normal((len(positions), 8))
    y = apply(x, nd_angles(positions, F))
    prefix = slice(0, n_prefix) if where == "first" else slice(len(grid), None)
    patches = slice(n_prefix, None) if where == "first" else slice(0, len(grid))
    np.testing.assert_array_equal(y[prefix], x[prefix])
    np.testing.assert_array_equal(positions[patches], grid)


def test_llama4_vision_convention():
    # transformers 5.23.0 models/llama4/modeling_llama4.py: x = col and y = row,
    # 1-based, CLS appended last with angle 0.
    # On the 1-based grid no patch sits at the origin, so CLS alone is unrotated.
    positions = with_prefix_tokens(index_grid((3, 4), axis_order="xy", offset=1), where="last")
    np.testing.assert_array_equal(positions[0], [1, 1])
    np.testing.assert_array_equal(positions[1], [2, 1])        # next column: x grows
    np.testing.assert_array_equal(positions[4], [1, 2])        # next row: y grows
    np.testing.assert_array_equal(positions[-1], [0, 0])
    angles = nd_angles(positions, axial_frequencies(16, 2))
    unrotated = np.flatnonzero(np.all(angles == 0, axis=1))
    np.testing.assert_array_equal(unrotated, [len(positions) - 1])


def test_post_flattening_objection():
    # kexue.fm/archives/8397: flattening (x, y) -> x h + y puts the two neighbours of
    # (3, 4) on a 14 x 14 map at distances 14 and 1; the 2-D positions see both at 1.
    grid = index_grid((14, 14))
    flat = lambda row, col: np.flatnonzero(np.all(grid == [row, col], axis=1))[0]
    assert flat(4, 4) - flat(3, 4) == 14 and flat(3, 5) - flat(3, 4) == 1
    assert np.abs(grid[flat(4, 4)] - grid[flat(3, 4)]).sum() == 1
    assert np.abs(grid[flat(3, 5)] - grid[flat(3, 4)]).sum() == 1


def test_bad_input():
    with pytest.raises(ValueError, match="axis_order"):
        index_grid((2, 2), axis_order="yx")
    with pytest.raises(ValueError, match="axis_order"):
        index_grid((2, 2, 2), axis_order="xy")
    with pytest.raises(TypeError, match="shape"):
        index_grid(5)
    with pytest.raises(TypeError, match="shape"):
        pixel_grid(())
    with pytest.raises(ValueError, match="shape"):
        index_grid((0, 3))
    with pytest.raises(ValueError, match="offset"):
        index_grid((2, 2), offset=np.inf)
    with pytest.raises(ValueError, match="n_prefix"):
        with_prefix_tokens(index_grid((2, 2)), -1)
    with pytest.raises(ValueError, match="where"):
        with_prefix_tokens(index_grid((2, 2)), where="middle")
    with pytest.raises(ValueError, match="positions"):
        with_prefix_tokens([1.0, 2.0])


# -- issue #19: merge-block order, DINOv3 centres, per-axis offsets ---------------------------

def test_merge_block_grid_by_hand():
    """4 x 4 patches, 2 x 2 blocks: block (0,0) holds (0,0) (0,1) (1,0) (1,1), then block
    (0,1) holds (0,2) (0,3) (1,2) (1,3), ... (transformers vision_utils)."""
    grid = merge_block_grid((4, 4))
    np.testing.assert_array_equal(grid[:8], [[0, 0], [0, 1], [1, 0], [1, 1],
                                             [0, 2], [0, 3], [1, 2], [1, 3]])
    assert np.max(np.abs(grid - index_grid((4, 4)))) == 2  # raster order is off


@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3))
def test_merge_block_grid_is_a_blockwise_permutation(bh, bw, merge, frames):
    grid = merge_block_grid((bh * merge, bw * merge), merge, frames=frames)
    one = grid[: bh * bw * merge**2]
    assert sorted(map(tuple, one)) == sorted(map(tuple, index_grid((bh * merge, bw * merge))))
    blocks = one.reshape(-1, merge**2, 2) // merge  # every group of m^2 tokens: one block
    assert np.all(blocks == blocks[:, :1])
    np.testing.assert_array_equal(grid, np.tile(one, (frames, 1)))


def test_centred_grid_normalisations():
    np.testing.assert_allclose(centred_grid((2, 4))[:, 0], [-0.5] * 4 + [0.5] * 4)
    np.testing.assert_allclose(centred_grid((2, 4), normalize="max")[:4, 1],
                               [-0.75, -0.25, 0.25, 0.75])
    np.testing.assert_allclose(centred_grid((2, 4), normalize="min")[:4, 1],
                               [-0.5, 0.5, 1.5, 2.5])
    with pytest.raises(ValueError, match="normalize"):
        centred_grid((2, 2), normalize="mean")


def test_per_axis_offsets():
    np.testing.assert_array_equal(index_grid((2, 2), offset=(5, -1)),
                                  [[5, -1], [5, 0], [6, -1], [6, 0]])
    np.testing.assert_array_equal(index_grid((2, 2), offset=(5, -1), axis_order="xy"),
                                  [[-1, 5], [0, 5], [-1, 6], [0, 6]])
    with pytest.raises(ValueError, match="one value per axis"):
        index_grid((2, 2, 2), offset=(1, 2))
