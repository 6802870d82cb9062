"""Shared cases of the attention tests: a loop-per-query reference of softmax attention
and a Hypothesis strategy of random q, k, v, masks, biases and RoPE options."""

import numpy as np
from hypothesis import strategies as st

from refimpl import rope

seeds = st.integers(0, 2**32 - 1)
layouts = st.sampled_from(["interleaved", "half"])


def naive_attention(q, k, v, mask, bias, scale, angles, key_angles, layout):
    """Loop-per-query reference with dense RoPE matrices (refimpl.rope.rotation_matrix)."""
    d = q.shape[-1]
    out = np.zeros(q.shape[:-1] + v.shape[-1:])
    for index in np.ndindex(q.shape[:-2]):
        for i in range(q.shape[-2]):
            qi = q[index][i] if angles is None else \
                rope.rotation_matrix(angles[i], d, layout) @ q[index][i]
            logits, allowed = [], []
            for j in range(k.shape[-2]):
                kj = k[index][j] if key_angles is None else \
                    rope.rotation_matrix(key_angles[j], d, layout) @ k[index][j]
                b = 0.0 if bias is None else np.broadcast_to(bias, q.shape[:-1] + (k.shape[-2],))[
                    index + (i, j)]
                logits.append(qi @ kj / (np.sqrt(d) if scale else 1.0) + b)
                allowed.append(True if mask is None else bool(
                    np.broadcast_to(mask, q.shape[:-1] + (k.shape[-2],))[index + (i, j)]))
            logits, allowed = np.array(logits), np.array(allowed)
            if allowed.any():
                w = np.where(allowed, np.exp(logits - logits[allowed].max()), 0.0)
                out[index][i] = (w / w.sum()) @ v[index]
    return out


@st.composite
def attention_case(draw, rope_allowed=True):
    """Random q, k, v (batch 2, heads 2), a mask with a fully masked row, options."""
    rng = np.random.default_rng(draw(seeds))
    tq, tk = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    d, dv = 2 * draw(st.integers(1, 3)), draw(st.integers(1, 3))
    q, k = rng.standard_normal((2, 2, tq, d)), rng.standard_normal((2, 2, tk, d))
    v = rng.standard_normal((2, 2, tk, dv))
    mask = None
    if draw(st.booleans()):
        mask = rng.random((2, 1, tq, tk)) < 0.7
        mask[0, 0, 0] = False                      # a fully masked row
    bias_shape = draw(st.sampled_from([None, (tq, tk), (2, 1, tq, tk), (2, 1, 1)]))
    bias = None if bias_shape is None else rng.standard_normal(bias_shape)
    angles = key_angles = rotary_dim = None
    layout = draw(layouts)
    if rope_allowed and draw(st.booleans()):
        pairs = draw(st.integers(1, d // 2))       # partial rotary included (explicitly)
        frequencies = rope.inv_freq(2 * pairs, 10.0)
        angles = rope.angles(rng.integers(0, 50, tq), frequencies)
        key_angles = rope.angles(rng.integers(0, 50, tk), frequencies)
        rotary_dim = 2 * pairs if 2 * pairs < d else None
    options = dict(scale=draw(st.booleans()), angles=angles, key_angles=key_angles,
                   layout=layout, rotary_dim=rotary_dim)
    return rng, q, k, v, mask, bias, options
