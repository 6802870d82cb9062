"""Linear attention (refimpl/attention/linear.py): the naive formula, position-shift
invariance and the VJP."""

import numpy as np
from attention_cases import layouts, seeds
from hypothesis import given
from hypothesis import strategies as st

from refimpl import rope
from refimpl.attention import linear_attention, linear_attention_vjp
from refimpl.gradcheck import assert_vjp


def naive_linear_attention(q, k, v, angles, layout):
    feature = lambda x: np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0.0)))
    out = np.zeros(q.shape[:-1] + v.shape[-1:])
    d = q.shape[-1]
    for i in range(q.shape[-2]):
        numerator, denominator = 0.0, 0.0
        for j in range(k.shape[-2]):
            a, b = feature(q[i]), feature(k[j])
            if angles is not None:
                a_rot = rope.rotation_matrix(angles[i], d, layout) @ a
                b_rot = rope.rotation_matrix(angles[j], d, layout) @ b
            else:
                a_rot, b_rot = a, b
            numerator = numerator + (a_rot @ b_rot) * v[j]
            denominator += a @ b
        out[i] = numerator / denominator
    return out


@given(seeds, layouts, st.booleans())
def test_linear_attention_matches_naive_formula(seed, layout, with_rope):
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((4, 6)), rng.standard_normal((4, 6)), rng.standard_normal((4, 3))
    phi = rope.angles(np.arange(4) * 3, rope.inv_freq(4)) if with_rope else None
    rotary_dim = 4 if with_rope else None          # partial rotary: 4 of 6 features
    np.testing.assert_allclose(linear_attention(q, k, v, angles=phi, layout=layout,
                                                rotary_dim=rotary_dim),
                               naive_linear_attention(q, k, v, phi, layout), rtol=1e-11,
                               atol=1e-12)


@given(seeds, layouts, st.integers(-1000, 1000))
def test_linear_attention_is_invariant_to_a_common_position_shift(seed, layout, shift):
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((2, 5, 4)) for _ in range(3))
    frequencies = rope.inv_freq(4)
    positions = rng.integers(0, 100, 5)
    out = lambda p: linear_attention(q, k, v, angles=rope.angles(p, frequencies), layout=layout)
    np.testing.assert_allclose(out(positions + shift + 1000), out(positions), atol=1e-10)


@given(seeds, layouts, st.booleans())
def test_linear_attention_vjp(seed, layout, with_rope):
    rng = np.random.default_rng(seed)
    q, k, v = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), \
        rng.standard_normal((2, 5, 2))
    phi = rope.angles(np.arange(3), rope.inv_freq(4)) if with_rope else None
    key_phi = rope.angles(np.arange(5) + 2, rope.inv_freq(4)) if with_rope else None
    options = dict(angles=phi, key_angles=key_phi, layout=layout)
    assert_vjp(lambda q, k, v: linear_attention(q, k, v, **options),
              lambda g, q, k, v: linear_attention_vjp(g, q, k, v, **options), [q, k, v], rng=rng)
