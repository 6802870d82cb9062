"""External Attention (Guo et al., arXiv 2105.02358): the two-step normalisation, its
stable form, the coupling of the tokens, the PyTorch layout of the memories, the VJP."""

import numpy as np
from hypothesis import given, settings
from mixers_cases import GRAD_EXAMPLES, normal, seeds, sizes

from refimpl import mixers as mx
from refimpl.gradcheck import assert_vjp

EPS = np.finfo(np.float64).eps


@settings(max_examples=GRAD_EXAMPLES)
@given(seeds)
def test_vjp_of_external_attention(seed):
    # Split from test_vjps_of_the_attention_like_mixers (one test per module).
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    assert_vjp(mx.external_attention, mx.external_attention_vjp,
              [normal(rng, b, n, d), normal(rng, 5, d), normal(rng, 3, 5)], rng=rng)


def external_two_step(x, memory_keys, memory_values):
    """The reference code's two steps (without its 1e-9): softmax over tokens, l1 over slots.

    Written in the torch layout of xmu-xiaoma666/External-Attention-pytorch
    (``ExternalAttention``): ``mk = nn.Linear(d, S)`` and
    ``mv = nn.Linear(S, d_out)``, so ``memory_values`` is ``mv.weight``, shape (d_out, S).
    """
    scores = np.exp(x @ memory_keys.T)
    token_softmax = scores / scores.sum(axis=-2, keepdims=True)
    return token_softmax / token_softmax.sum(axis=-1, keepdims=True) @ memory_values.T


@given(seeds)
def test_external_attention_matches_the_two_step_definition(seed):
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    x, keys, values = normal(rng, b, n, d), normal(rng, 4, d), normal(rng, 3, 4)
    np.testing.assert_allclose(mx.external_attention(x, keys, values),
                               external_two_step(x, keys, values), rtol=1e-12, atol=1e-13)


@given(seeds)
def test_external_attention_definition_is_the_two_step_form(seed):
    # The library's textbook form against the independent port above, and the fast form
    # against the textbook form. Error model: scores B are sums of d terms, off by
    # <= d eps max|x||M_k| =: e_B; exp turns that into a relative error e_B (+ eps), each
    # normalisation adds <= (n + S) eps relative, and A M_v^T adds S eps max|M_v|. So
    # both differences are <= (2 e_B + 2 (n + S + 2) eps) S max|M_v|.
    rng = np.random.default_rng(seed)
    b, n, d = sizes(rng)
    S = 4
    x, keys, values = normal(rng, b, n, d), normal(rng, S, d), normal(rng, 3, S)
    score_error = d * EPS * np.abs(x).max() * np.abs(keys).max()
    bound = (2 * score_error + 2 * (n + S + 2) * EPS) * S * np.abs(values).max()
    definition = mx.external_attention_definition(x, keys, values)
    np.testing.assert_allclose(definition, external_two_step(x, keys, values), rtol=0,
                               atol=4 * bound)
    np.testing.assert_allclose(mx.external_attention(x, keys, values), definition, rtol=0,
                               atol=4 * bound)


def test_external_attention_is_finite_where_the_two_step_form_is_not():
    # Token 0 scores ~ -800 in every slot: the token softmax underflows to 0 in each
    # column, and the l1 step would be 0/0. The log-domain form still gives weights.
    x = np.array([[-800.0], [0.0], [1.0]])
    out = mx.external_attention(x, np.ones((2, 1)), np.eye(2))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out.sum(axis=-1), 1.0)


@given(seeds)
def test_external_attention_output_i_depends_on_other_tokens(seed):
    # The token-axis softmax normaliser sum_t exp(B_ts) couples the tokens (Su's round-up,
    # kexue.fm/archives/8431, calls the encoding per-token; this is the partial answer): a
    # change of token j moves the output of token i != j. A per-token ("isolated")
    # encoding, e.g. a softmax over the slots only, would leave row i unchanged.
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 6)), 3
    x, keys, values = normal(rng, n, d), normal(rng, 4, d), normal(rng, 3, 4)
    i, j = rng.choice(n, size=2, replace=False)
    moved = x.copy()
    moved[j] += 1.0 + normal(rng, d)
    change = np.abs(mx.external_attention(moved, keys, values)[i]
                    - mx.external_attention(x, keys, values)[i]).max()
    isolated = lambda z: (np.exp(z @ keys.T) / np.exp(z @ keys.T).sum(-1, keepdims=True)) @ values.T
    assert change > 1e-6
    np.testing.assert_allclose(isolated(moved)[i], isolated(x)[i], atol=1e-14)
