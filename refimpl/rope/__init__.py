"""Rotary position embedding (RoPE): frequencies, angles, the rotation and its backward.

One dimension: :func:`inv_freq` and the context-extension schedules
(:func:`scaled_inv_freq`, one per Hugging Face ``rope_type``) give the frequencies;
:func:`from_hf_config` reads them, the rotary width and the layout straight from a
Hugging Face config. :func:`angles` turns positions into rotation angles,
:func:`apply` rotates pairs of features (interleaved or half layout, partial rotary
said explicitly with ``rotary_dim=``, optional magnitude and change of basis) and
:func:`apply_vjp` is its backward pass; :func:`apply_definition` and
:func:`apply_vjp_definition` write both as the 2x2 rotation of each pair, the form to
read first. :mod:`refimpl.rope.layouts` converts activations and q/k weights between the
layouts; :mod:`refimpl.rope.decay` holds the post's long-range decay indicator. N-D
positions live in :mod:`refimpl.rope.nd`, :mod:`refimpl.rope.grids` and
:mod:`refimpl.rope.mrope_positions` (Qwen-VL's M-RoPE position ids).
"""

from refimpl.rope.apply import (
    BASIS_ORTHOGONALITY_TOL,
    LAYOUTS,
    angles,
    angles_vjp,
    apply,
    apply_definition,
    apply_vjp,
    apply_vjp_definition,
    complex_form,
    elementwise_form,
    inv_freq_vjp,
    rotation_matrix,
)
from refimpl.rope.decay import decay_indicator
from refimpl.rope.frequencies import (
    ROPE_TYPES,
    default_inv_freq,
    dynamic_inv_freq,
    inv_freq,
    linear_inv_freq,
    llama3_inv_freq,
    longrope_inv_freq,
    ntk_base,
    proportional_inv_freq,
    scaled_inv_freq,
    yarn_correction_range,
    yarn_inv_freq,
    yarn_mscale,
)
from refimpl.rope.hf import (
    HfRope,
    dynamic_seq_lens,
    from_hf_config,
    longrope_seq_lens,
    replay,
)
from refimpl.rope.layouts import layout_permutation, permute_qk_rows
from refimpl.rope.mrope_positions import (
    ImageSpan,
    TextSpan,
    VideoSpan,
    decode_position_ids,
    qwen2_5_vl_position_ids,
    qwen2_vl_position_ids,
    qwen3_vl_position_ids,
    qwen3_vl_timestamps,
    qwen3_vl_video_spans,
)
from refimpl.rope.nd import (
    axial_frequencies,
    axis_interleaved_frequencies,
    mixed_frequencies,
    mrope_frequencies,
    nd_angles,
    nd_angles_vjp,
)

__all__ = [
    "BASIS_ORTHOGONALITY_TOL", "LAYOUTS", "angles", "angles_vjp", "inv_freq_vjp",
    "apply_definition", "apply_vjp_definition", "apply", "apply_vjp", "elementwise_form",
    "complex_form", "rotation_matrix", "decay_indicator", "ROPE_TYPES", "inv_freq",
    "default_inv_freq", "linear_inv_freq", "dynamic_inv_freq", "yarn_inv_freq",
    "yarn_mscale", "yarn_correction_range", "longrope_inv_freq", "llama3_inv_freq",
    "ntk_base", "scaled_inv_freq", "proportional_inv_freq", "HfRope", "from_hf_config",
    "dynamic_seq_lens", "longrope_seq_lens", "replay", "layout_permutation", "permute_qk_rows",
    "axial_frequencies", "axis_interleaved_frequencies", "mixed_frequencies",
    "mrope_frequencies", "nd_angles", "nd_angles_vjp", "TextSpan", "ImageSpan", "VideoSpan",
    "qwen2_vl_position_ids", "qwen2_5_vl_position_ids", "qwen3_vl_position_ids",
    "qwen3_vl_video_spans", "qwen3_vl_timestamps", "decode_position_ids",
]
