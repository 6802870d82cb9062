"""Presets against independent NumPy transcriptions of the sources they cite.

The other kit tests check each preset against itself; these pin the conventions that
only show on 2-D inputs (axis order, non-square grids) to rope_anchors.md §2.4 and §5.
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
    ``T^(-k/(D/4))``, row bands first (rope_anchors.md §5)."""
    convention = timm_eva(16, ref_feat_shape=(16, 8), feat_shape=(32, 32))
    bands = 10000.0 ** (-np.arange(4) / 4)
    row, col = 3.0, 5.0
    expected = np.concatenate([row * 16 / 32 * bands, col * 8 / 32 * bands])
    np.testing.assert_allclose(convention.angles([row, col]), expected, rtol=1e-15)
