"""The attention properties, run on refimpl's scaled_dot_product_attention and its VJP.

The reference of ``values`` is an independent loop over queries written here (refimpl's
kernel would be compared with itself otherwise); the backward is compared with central
differences. Cases come from :func:`refimpl.testing.strategies.attention_cases` (all,
causal and random masks, queries with no allowed key included).
"""

import numpy as np
from hypothesis import given

from refimpl.attention import scaled_dot_product_attention, scaled_dot_product_attention_vjp
from refimpl.testing import strategies as rst
from refimpl.testing.properties import attention as properties


def loop_attention(q, k, v, mask):
    """softmax over the allowed keys of each query, one query at a time (zeros if none)."""
    out = np.zeros((q.shape[0], v.shape[1]))
    for i in range(q.shape[0]):
        if mask[i].any():
            logits = k[mask[i]] @ q[i] / np.sqrt(q.shape[1])
            weights = np.exp(logits - logits.max())
            out[i] = weights @ v[mask[i]] / weights.sum()
    return out


def _vjp(g, q, k, v, mask):
    return scaled_dot_product_attention_vjp(g, q, k, v, mask)[:3]


SUBJECT = properties.AttentionSubject(scaled_dot_product_attention, _vjp,
                                      scaled_dot_product_attention, reference=loop_attention,
                                      reference_vjp=None, fully_masked="zeros")


@given(rst.attention_cases())
def test_values(case):
    properties.values(SUBJECT, case).assert_holds()


@given(rst.attention_cases())
def test_masked_keys_ignored(case):
    properties.masked_keys_ignored(SUBJECT, case).assert_holds()


@given(rst.attention_cases())
def test_fully_masked_rows_are_zero(case):
    properties.fully_masked_rows_are_zero(SUBJECT, case).assert_holds()


@given(rst.attention_cases(max_length=4, max_dim=4))
def test_backward(case):
    properties.backward(SUBJECT, case).assert_holds()
