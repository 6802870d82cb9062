"""Attention: softmax attention with masks, biases, RoPE and grouped-query heads; linear attention.

Softmax attention (Vaswani et al. 2017) lets every query position take a weighted
average of the value vectors, the weights being a softmax of query-key inner products:

.. math::

    \\operatorname{Attn}(Q, K, V) = \\operatorname{softmax}\\left(
        \\frac{(R Q)(R K)^T}{\\sqrt{d}} + B\\right) V

per head, where ``R`` is the rotary position embedding (RoFormer; :mod:`refimpl.rope`)
applied to queries and keys (never to values), ``B`` an optional additive bias (ALiBi,
T5 buckets) and ``d`` the head dimension. A boolean mask (:mod:`refimpl.masks`) removes
keys from the softmax; a query with no allowed key is *defined* to output zeros, with
zero gradient. Frameworks that use a large negative number instead return some
average of the values there (their mean when the number replaces the logits, the
unmasked softmax when it is added to them): compare only rows with an allowed key.

The package reads in this order:

* :mod:`~refimpl.attention.softmax`: the stable, masked :func:`softmax` and its VJP;
* :mod:`~refimpl.attention.heads`: :func:`split_heads` / :func:`merge_heads` between
  ``(..., T, H d)`` and ``(..., H, T, d)``, and :func:`repeat_kv`, the textbook form of
  key/value heads shared by groups of query heads (GQA, MQA);
* :mod:`~refimpl.attention.scaled_dot_product`: :func:`scaled_dot_product_attention`,
  its VJP, the logits, the weights and the backward pass from saved weights; leading
  axes broadcast, ``enable_gqa=True`` shares key/value heads as torch does;
* :mod:`~refimpl.attention.alibi`: the ALiBi slopes and bias (Press et al. 2022);
* :mod:`~refimpl.attention.linear`: linear attention (Katharopoulos et al. 2020) with
  RoPE in its numerator.

Partial rotary is explicit everywhere: angles covering fewer features than the head
dimension need ``rotary_dim=``.
"""

from refimpl.attention._common import additive_bias, rotate, rotate_transpose
from refimpl.attention.alibi import alibi_bias, alibi_slopes
from refimpl.attention.heads import (
    merge_heads,
    merge_heads_unchecked,
    repeat_kv,
    repeat_kv_vjp,
    split_heads,
    split_heads_unchecked,
)
from refimpl.attention.linear import linear_attention, linear_attention_vjp
from refimpl.attention.scaled_dot_product import (
    attend_unchecked,
    attention_backward_from_weights,
    attention_backward_unchecked,
    attention_logits,
    attention_weights,
    attention_weights_unchecked,
    scale_factor,
    scaled_dot_product_attention,
    scaled_dot_product_attention_vjp,
)
from refimpl.attention.softmax import softmax, softmax_vjp

__all__ = ["softmax", "softmax_vjp", "split_heads", "merge_heads", "repeat_kv",
           "repeat_kv_vjp", "attention_logits", "attention_weights",
           "attention_backward_from_weights", "scaled_dot_product_attention",
           "scaled_dot_product_attention_vjp", "alibi_slopes", "alibi_bias",
           "linear_attention", "linear_attention_vjp"]

# The unchecked cores (split_heads_unchecked, merge_heads_unchecked, scale_factor,
# attention_weights_unchecked, attend_unchecked, attention_backward_unchecked, rotate /
# rotate_transpose, RoPE on the leading features, and additive_bias, the bias check) stay
# importable from here for refimpl.transformer; they are not part of the public API.
_INTERNAL = (split_heads_unchecked, merge_heads_unchecked, scale_factor,
             attention_weights_unchecked, attend_unchecked, attention_backward_unchecked,
             rotate, rotate_transpose, additive_bias)
