"""Catalogue of plausible RoPE mistakes (issue #16): each gets a clear error, never a
silent wrong answer. Every case names the exception type and a regex the message must
match (the argument, what was received, and where a PyTorch / Hugging Face habit
explains the mistake, the fix); the valid-but-unusual inputs at the end must work and
return finite values."""

import numpy as np
import pytest

from refimpl import rope
from refimpl.rope.grids import index_grid, merge_block_grid
from refimpl.rope.mrope_positions import ImageSpan, TextSpan, VideoSpan, qwen3_vl_position_ids
from refimpl.rope.nd import mrope_frequencies

X = np.ones((16, 64))
OMEGA = rope.inv_freq(64)
PHI = rope.angles(np.arange(16), OMEGA)

MISTAKES = [
    # (name, call, exception, regex)
    ("positions passed where angles belong",
     lambda: rope.apply(X, np.arange(16.0)), ValueError,
     r"angles of shape \(16,\).*x of shape \(16, 64\).*rotary_dim=32.*"
     r"did you pass positions\? use rope.angles\(positions, inv_freq\)"),
    ("short angles without rotary_dim in the VJP",
     lambda: rope.apply_vjp(X, X, PHI[:, :8]), ValueError,
     r"covers 2P=16 of x's D=64.*rotary_dim=16"),
    ("short angles without rotary_dim in the definition",
     lambda: rope.apply_definition(X, PHI[:, :8]), ValueError, r"rotary_dim=16"),
    ("rotary_dim that does not match the angles",
     lambda: rope.apply(X, PHI[:, :8], rotary_dim=32), ValueError,
     r"rotary_dim=32 must equal 2P = 16"),
    ("angles wider than x",
     lambda: rope.apply(X[:, :32], PHI), ValueError,
     r"angles of shape \(16, 32\) has P=32.*exceeds x's last dimension D=32"),
    ("missing heads axis: (B, H, T, D) with (B, T, P) angles",
     lambda: rope.apply(np.ones((2, 3, 16, 64)), np.ones((2, 16, 32))), ValueError,
     r"shapes do not broadcast: x \(2, 3, 16, 64\), angles \(2, 16, 32\).*"
     r"angles\[:, None\] \(Hugging Face's unsqueeze_dim=1\)"),
    ("rope_theta passed to scaled_inv_freq",
     lambda: rope.scaled_inv_freq("default", 64, rope_theta=1e4), TypeError,
     r"unknown parameter\(s\) 'rope_theta'.*base=rope_theta.*rope.from_hf_config"),
    ("partial_rotary_factor passed to scaled_inv_freq",
     lambda: rope.scaled_inv_freq("default", 64, partial_rotary_factor=0.5), TypeError,
     r"rotary_dim=int\(head_dim \* partial_rotary_factor\)"),
    ("longrope without its factors, reported from the public function",
     lambda: rope.scaled_inv_freq("longrope", 8, original_max_position_embeddings=16),
     TypeError, r"scaled_inv_freq\('longrope'\) needs keyword parameter\(s\) short_factor, "
                r"long_factor"),
    ("YaRN betas swapped",
     lambda: rope.yarn_inv_freq(64, factor=4.0, original_max_position_embeddings=4096,
                                beta_fast=1.0, beta_slow=32.0), ValueError,
     r"beta_fast >= beta_slow, got beta_fast=1 < beta_slow=32.*swapped"),
    ("factor below one outside linear",
     lambda: rope.scaled_inv_freq("dynamic", 64, factor=0.5, max_position_embeddings=64),
     ValueError, r"factor must be >= 1, got factor=0.5 \(only rope_type='linear'"),
    ("yarn on an odd rotary width",
     lambda: rope.scaled_inv_freq("yarn", 19, factor=2.0, original_max_position_embeddings=64),
     ValueError, r"yarn needs an even rotary_dim, got rotary_dim=19"),
    ("Flax (in, out) kernel passed to permute_qk_rows",
     lambda: rope.permute_qk_rows(np.zeros((2, 64)), 1, "interleaved", "half"), ValueError,
     r"head_dim=2 inferred from weight's 2 rows.*Flax/JAX \(in, out\) kernel.*weight.T"),
    ("head_dim that does not fit the weight",
     lambda: rope.permute_qk_rows(np.zeros((96, 8)), 2, "interleaved", "half", head_dim=64),
     ValueError, r"96 rows, not num_heads \* head_dim = 2 \* 64 = 128"),
    ("chunked M-RoPE sections that do not tile the slots",
     lambda: mrope_frequencies(72, [8, 12, 12]), ValueError,
     r"chunked M-RoPE sections must sum to the 36 frequency slots.*only interleaved=True"),
    ("Qwen3-VL video as one span",
     lambda: qwen3_vl_position_ids([TextSpan(1), VideoSpan(4, 2, 2)]), ValueError,
     r"each video frame its own span.*qwen3_vl_video_spans"),
    ("image grid not divisible by the merge size",
     lambda: merge_block_grid((5, 4), 2), ValueError,
     r"shape \(5, 4\) must be a multiple of merge_size=2"),
    ("per-axis offset of the wrong length",
     lambda: index_grid((4, 4), offset=(1, 2, 3)), ValueError,
     r"offset must be a scalar or hold one value per axis \(2\), got \[1.0, 2.0, 3.0\]"),
    ("nested rope_parameters without layer_type",
     lambda: rope.from_hf_config({"head_dim": 8, "num_attention_heads": 1, "rope_parameters": {
         "full_attention": {"rope_type": "default"},
         "sliding_attention": {"rope_type": "default"}}}), ValueError,
     r"nested by layer type \(\['full_attention', 'sliding_attention'\]\).*layer_type="),
    ("odd width that rounds up past the head",
     lambda: rope.from_hf_config({"head_dim": 9, "num_attention_heads": 1}), ValueError,
     r"rotary width 9 .* rounds up to 10 rotated features, more than head_dim=9"),
    ("NaN in x reaches apply_vjp only where grad is zero",
     lambda: rope.apply_vjp(np.zeros((2, 4)), [[np.inf, 0, 0, 0], [0, 0, 0, 0]],
                            np.ones((2, 2))), ValueError, r"x must be finite"),
    ("NaN in a pass-through feature of x",
     lambda: rope.apply_vjp(np.ones((2, 6)), [[0, 0, 0, 0, 0, np.nan]] * 2, np.ones((2, 2)),
                            rotary_dim=4), ValueError, r"x must be finite"),
]


@pytest.mark.parametrize(("call", "error", "pattern"), [m[1:] for m in MISTAKES],
                         ids=[m[0] for m in MISTAKES])
def test_mistake_is_refused_with_a_teaching_message(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_valid_but_unusual_inputs_work():
    # lists, ints, a 0-d position, negative and fractional positions
    phi = rope.angles(-3, [1, 0.5])
    y = rope.apply([1, 2, 3, 4], phi)
    assert y.shape == (4,) and np.all(np.isfinite(y))
    assert rope.angles(np.array(2.5), [1.0]).shape == (1,)
    # explicit partial rotary, and explicit full rotary
    z = rope.apply(np.ones((3, 6)), np.ones((3, 2)), rotary_dim=4)
    np.testing.assert_array_equal(z[:, 4:], 1.0)
    np.testing.assert_array_equal(rope.apply(X, PHI, rotary_dim=64), rope.apply(X, PHI))
    # the heads axis added as the hint says
    q = np.ones((2, 3, 16, 64))
    assert rope.apply(q, np.ones((2, 16, 32))[:, None]).shape == (2, 3, 16, 64)
    # zero gradients and zero inputs are fine (0 * 0, no NaN)
    grads = rope.apply_vjp(np.zeros((2, 4)), np.zeros((2, 4)), np.ones((2, 2)))
    assert all(np.all(g == 0) for g in grads[:2])
    # HF's quirks accepted on purpose: factor < 1 in linear, odd widths, equal YaRN betas
    assert rope.scaled_inv_freq("linear", 8, factor=0.5)[0][0] == 2.0
    assert rope.scaled_inv_freq("default", 7)[0].size == 4
    assert np.all(np.isfinite(rope.yarn_inv_freq(8, factor=2.0, beta_fast=4, beta_slow=4,
                                                  original_max_position_embeddings=64)[0]))
    # a 4.x-style config with seq_len=None (the initialisation) and a head_dim of None
    bundle = rope.from_hf_config({"hidden_size": 64, "num_attention_heads": 2, "head_dim": None,
                                  "max_position_embeddings": 32,
                                  "rope_scaling": {"type": "dynamic", "factor": 2.0}})
    np.testing.assert_array_equal(bundle.inv_freq, rope.inv_freq(32))
    ids, _ = qwen3_vl_position_ids([ImageSpan(1, 2, 2)])
    assert ids.shape == (3, 1)
