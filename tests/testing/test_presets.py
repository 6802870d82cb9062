"""Presets against independent NumPy transcriptions of the sources they cite.

The other kit tests check each preset against itself; these pin the conventions that
only show on 2-D inputs (axis order, non-square grids) to the source files they cite
(transformers 5.23.0, timm 1.0.31, the reference repositories).
"""

import numpy as np

from refimpl.testing.presets import llama4_vision, timm_eva


def llama4_vision_port(x, rows, cols, base=10000.0):
    """transformers ``Llama4VisionRotaryEmbedding`` + ``vision_apply_rotary_emb``, in NumPy.

    ``freq_dim = D/2``, ``f = 1/base^(arange(0, freq_dim, 2)[:freq_dim//2] / freq_dim)``;
    x-angles ``(col+1) f`` and y-angles ``(row+1) f``, each repeated per pair,
    concatenated x first and subsampled ``[::2]``; then a complex product on the
    interleaved pairs of ``x``.
    """
    freq_dim = x.shape[-1] // 2
    f = 1.0 / base ** (np.arange(0, freq_dim, 2)[: freq_dim // 2] / freq_dim)
    freqs_x = np.repeat((cols + 1)[:, None] * f, 2, axis=-1)
    freqs_y = np.repeat((rows + 1)[:, None] * f, 2, axis=-1)
    phi = np.concatenate([freqs_x, freqs_y], axis=-1)[:, ::2]
    rotated = (x[:, 0::2] + 1j * x[:, 1::2]) * np.exp(1j * phi)
    return np.stack([rotated.real, rotated.imag], axis=-1).reshape(x.shape)


def test_llama4_vision_matches_the_hf_code_column_first():
    rng = np.random.default_rng(0)
    rows, cols = np.divmod(np.arange(12), 4)  # a 3 x 4 grid in raster order
    x = rng.standard_normal((12, 16))
    got = llama4_vision(16)(x, np.stack([rows, cols], axis=-1))
    np.testing.assert_allclose(got, llama4_vision_port(x, rows, cols), rtol=0, atol=1e-14)


def test_timm_eva_rescales_each_axis_by_its_own_ref_over_feat():
    """timm ``_build_grid``: ``t_axis = index * ref[axis] / feat[axis]``; bands
    ``T^(-k/(D/4))``, row bands first (timm 1.0.31 pos_embed_sincos.py)."""
    convention = timm_eva(16, ref_feat_shape=(16, 8), feat_shape=(32, 32))
    bands = 10000.0 ** (-np.arange(4) / 4)
    row, col = 3.0, 5.0
    expected = np.concatenate([row * 16 / 32 * bands, col * 8 / 32 * bands])
    np.testing.assert_allclose(convention.angles([row, col]), expected, rtol=1e-15)


# -- issue #19: vision presets against NumPy transcriptions of their sources ------------------

def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def test_qwen_vision_is_hf_axial_half_on_merge_blocks():
    """transformers Qwen2VLVisionRotaryEmbedding: f = 1/b^(arange(0, D/2, 2)/(D/2)),
    angles [h f, w f] duplicated, x cos + rotate_half(x) sin, positions from
    get_vision_position_ids (merge blocks)."""
    from refimpl.rope.grids import merge_block_grid
    from refimpl.testing.presets import qwen_vision
    head_dim, rng = 16, np.random.default_rng(1)
    positions = merge_block_grid((4, 6), 2)
    f = 1.0 / 10000.0 ** (np.arange(0, head_dim // 2, 2) / (head_dim // 2))
    phi = np.concatenate([positions[:, :1] * f, positions[:, 1:] * f], axis=-1)
    emb = np.concatenate([phi, phi], axis=-1)
    x = rng.standard_normal((24, head_dim))
    np.testing.assert_allclose(qwen_vision(head_dim)(x, positions),
                               x * np.cos(emb) + rotate_half(x) * np.sin(emb), atol=1e-14)


def test_pixtral_rows_take_even_and_columns_odd_frequencies():
    from refimpl.testing.presets import pixtral
    head_dim = 16
    theta = 1.0 / 10000.0 ** (np.arange(0, head_dim, 2) / head_dim)
    row, col = 3.0, 5.0
    expected = np.concatenate([row * theta[0::2], col * theta[1::2]])
    np.testing.assert_allclose(pixtral(head_dim).angles([row, col]), expected, rtol=1e-15)


def test_dinov3_matches_the_reference_code():
    """facebookresearch/dinov3 RopePositionEmbedding: periods base^(2j/(D/2)), coords
    2 (i + 0.5)/N - 1, angles 2 pi c / T flattened (h then w) and tiled."""
    from refimpl.rope.grids import centred_grid
    from refimpl.testing.presets import dinov3
    head_dim, shape = 16, (3, 5)
    periods = 100.0 ** (2 * np.arange(head_dim // 4) / (head_dim // 2))
    for normalize, norm in (("separate", (3, 5)), ("max", (5, 5)), ("min", (3, 3))):
        h = (np.arange(3) + 0.5) / norm[0] * 2 - 1
        w = (np.arange(5) + 0.5) / norm[1] * 2 - 1
        coords = np.stack(np.meshgrid(h, w, indexing="ij"), -1).reshape(-1, 2)
        expected = (2 * np.pi * coords[:, :, None] / periods).reshape(len(coords), -1)
        got = dinov3(head_dim).angles(centred_grid(shape, normalize=normalize))
        np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-15)
    low, high = 0.5, 40.0
    minmax = dinov3(head_dim, None, min_period=low, max_period=high)
    ratio = high / low
    periods = ratio ** np.linspace(0, 1, head_dim // 4) / ratio * high
    np.testing.assert_allclose(minmax.frequencies[0, :4], 2 * np.pi / periods, rtol=1e-14)


def test_glm4v_text_is_chunked_interleaved_partial():
    from refimpl.testing.presets import glm4v_mrope
    convention = glm4v_mrope(16, mrope_section=(2, 1, 1))
    assert convention.rotary_dim == 8 and convention.layout == "interleaved"
    theta = 1.0 / 10000.0 ** (np.arange(0, 8, 2) / 8)
    np.testing.assert_allclose(convention.angles([1.0, 10.0, 100.0]),
                               [theta[0], theta[1], 10 * theta[2], 100 * theta[3]], rtol=1e-15)


def test_timm_mrope_accepts_non_tiling_sections():
    """timm RotaryEmbeddingMRope, head 72 with (8, 12, 12): h at channels 1, 4, ..., 34,
    w at 2, 5, ..., 35, the other 12 channels inert (t = 0 on an image)."""
    from refimpl.testing.presets import timm_mrope
    convention = timm_mrope(72, (8, 12, 12))
    theta = 1.0 / 10000.0 ** (np.arange(0, 72, 2) / 72)
    expected = np.zeros((2, 36))
    expected[0, 1::3], expected[1, 2::3] = theta[1::3], theta[2::3]
    np.testing.assert_array_equal(convention.frequencies, expected)


def test_timm_rope_mixed_both_indexings_agree_on_row_col():
    """The same stored rows under 'xy' and 'ij' describe different embeddings; the preset
    maps each to positions (row, col) so that row/col swap exactly."""
    from refimpl.testing.presets import timm_rope_mixed
    F = np.random.default_rng(2).standard_normal((2, 4))
    xy, ij = timm_rope_mixed(8, frequencies=F), timm_rope_mixed(8, frequencies=F,
                                                                grid_indexing="ij")
    np.testing.assert_allclose(xy.angles([3.0, 7.0]), 7.0 * F[0] + 3.0 * F[1], rtol=1e-15)
    np.testing.assert_allclose(ij.angles([3.0, 7.0]), 3.0 * F[0] + 7.0 * F[1], rtol=1e-15)


def test_lucidrains_xpos_uses_interpolated_positions():
    """rotary-embedding-torch 0.9.1 get_scale: power = (p/f - N//2) / scale_base."""
    from refimpl.testing.presets import lucidrains
    convention = lucidrains(16, use_xpos=True, xpos_scale_base=64.0, xpos_center=20,
                            interpolate_factor=2.0)
    p = np.arange(40.0)
    zeta = (np.arange(0, 16, 2) + 0.4 * 16) / (1.4 * 16)
    expected = zeta ** (((p / 2.0 - 20) / 64.0)[:, None])
    np.testing.assert_allclose(convention.magnitudes(p), expected, rtol=1e-15)
