"""Scaled dot-product (softmax) attention with masks, biases, RoPE and grouped-query heads.

Each query takes a weighted average of the values, the weights being a softmax of the
query-key inner products (Vaswani et al. 2017, arXiv:1706.03762):

.. math::

    o_i = \\sum_{j : M_{ij}} w_{ij} v_j, \\quad
    w_{ij} = \\frac{\\exp s_{ij}}{\\sum_{l : M_{il}} \\exp s_{il}}, \\quad
    s_{ij} = \\frac{(R_{m_i} q_i)^T (R_{n_j} k_j)}{\\sqrt d} + b_{ij}

with RoPE ``R`` on queries and keys (Su et al., RoFormer, arXiv:2104.09864), an additive
bias ``b`` (ALiBi, :mod:`refimpl.attention.alibi`; T5 buckets) and a boolean mask ``M``
(:mod:`refimpl.masks`). A query with no allowed key outputs zeros, with zero gradient.

Shapes follow NumPy: q ``(..., Tq, d)``, k ``(..., Tk, d)``, v ``(..., Tk, dv)``; their
leading (batch, head) axes broadcast, so a key/value head axis of length 1 serves every
query head (multi-query attention). With ``enable_gqa=True`` axis ``-3`` is the heads
axis and k, v may carry ``H_kv`` heads dividing the ``H`` query heads (grouped-query
attention, defined by :func:`refimpl.attention.repeat_kv`); the ``G = H / H_kv`` query
heads of a group are stacked into one matrix product with their shared keys, and the
VJP sums over them. Masks and biases broadcast to the logits ``(..., H, Tq, Tk)``, so
per-head masks and biases are plain arrays with a heads axis.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from refimpl import rope
from refimpl._broadcasting import cotangent, sum_to_shape
from refimpl._validation import as_float_array, check_choice
from refimpl.attention._common import (
    additive_bias,
    attention_shapes,
    group_heads,
    rotary_angles,
    rotate,
    rotate_transpose,
    saved_array,
    ungroup_heads,
)
from refimpl.attention.softmax import softmax_into
from refimpl.masks import as_mask

__all__ = ["attention_logits", "attention_weights", "attention_backward_from_weights",
           "scaled_dot_product_attention", "scaled_dot_product_attention_vjp"]


def scale_factor(scale: object, head_dim: int) -> float:
    """``1 / sqrt(head_dim)`` when ``scale`` is true, else 1 (internal, not in ``__all__``).

    The logit factor of the ``scale=`` switch of the functions below; the model code
    (:mod:`refimpl.transformer`) passes it to :func:`attention_weights_unchecked`.
    """
    if not isinstance(scale, (bool, np.bool_)):
        raise TypeError(f"scale must be True or False, got {scale!r}")
    return 1.0 / np.sqrt(head_dim) if scale else 1.0


def attention_weights_unchecked(q_rot: np.ndarray, k_rot: np.ndarray, mask: np.ndarray | None,
                                bias: np.ndarray | None, factor: float,
                                groups: int = 1) -> np.ndarray:
    """``softmax(factor q k^T + bias)`` over the allowed keys (rotated q and k).

    :func:`attention_weights` without its checks (internal, not in ``__all__``): ``mask``
    is a boolean array from :func:`refimpl.masks.as_mask` or None, ``factor`` comes from
    :func:`scale_factor`, ``groups`` query heads share each key head (axis -3). For
    callers that have validated their inputs once for many calls
    (:mod:`refimpl.transformer`).
    """
    with np.errstate(over="ignore", invalid="ignore"):  # overflow raises in softmax_into
        logits = ungroup_heads(group_heads(q_rot * factor, groups)
                               @ np.swapaxes(k_rot, -1, -2), groups)
        if bias is not None:
            logits += bias
    return softmax_into(logits, mask, -1)


def attend_unchecked(weights: np.ndarray, v: np.ndarray, groups: int = 1) -> np.ndarray:
    """``weights @ v`` with ``groups`` query heads per value head (internal)."""
    return ungroup_heads(group_heads(weights, groups) @ v, groups)


def attention_backward_unchecked(grad: np.ndarray, q_rot: np.ndarray, k_rot: np.ndarray,
                                 v: np.ndarray, weights: np.ndarray, factor: float,
                                 groups: int = 1
                                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``output = weights v`` in the rotated q and k, v and the logits.

    :func:`attention_backward_from_weights` without its checks (internal, not in
    ``__all__``), also returning the logits' gradient; same callers as
    :func:`attention_weights_unchecked`. The gradients have the broadcast shapes of the
    computation (the caller sums them back to its arguments' shapes); with ``groups >
    1`` those of k and v are already summed over the query heads of each group.

    The softmax backward is :math:`dS_{ij} = W_{ij} (dW_{ij} - \\sum_l W_{il} dW_{il})`
    with :math:`dW = g v^T`. The row sum is taken over the same computed ``dW``, not
    from the output as :math:`\\langle g_i, o_i \\rangle` (FlashAttention's ``D``,
    equal in exact arithmetic): where a row of ``W`` is one-hot (a saturated softmax),
    ``dS`` is then exactly zero, as its true value is, while the ``D`` form leaves the
    round-off of two different sums of size ``|g| |v|``, which ``k`` and ``q`` then
    amplify (to a spurious overflow at weights of size 1e150).
    """
    grouped_grad, grouped_weights = group_heads(grad, groups), group_heads(weights, groups)
    grad_v = np.swapaxes(grouped_weights, -1, -2) @ grouped_grad
    grad_logits = ungroup_heads(grouped_grad @ np.swapaxes(v, -1, -2), groups)
    grad_logits -= np.sum(weights * grad_logits, axis=-1, keepdims=True)
    grad_logits *= weights
    grouped_logits = group_heads(grad_logits, groups)
    grad_q = ungroup_heads(grouped_logits @ k_rot, groups) * factor
    grad_k = (np.swapaxes(grouped_logits, -1, -2) @ group_heads(q_rot, groups)) * factor
    return grad_q, grad_k, grad_v, grad_logits


@dataclasses.dataclass(frozen=True)
class _Inputs:
    """The validated arguments of :func:`scaled_dot_product_attention`."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    mask: np.ndarray | None
    bias: np.ndarray | None
    factor: float
    angles: np.ndarray | None
    key_angles: np.ndarray | None
    layout: str
    groups: int
    logits_shape: tuple[int, ...]
    output_shape: tuple[int, ...]


def _inputs(q: ArrayLike, k: ArrayLike, v: ArrayLike, mask: ArrayLike | None,
            bias: ArrayLike | None, scale: object, angles: ArrayLike | None,
            key_angles: ArrayLike | None, layout: str, enable_gqa: object,
            rotary_dim: object) -> _Inputs:
    """Validate every argument of :func:`scaled_dot_product_attention`."""
    q, k, v = (as_float_array(a, n) for a, n in ((q, "q"), (k, "k"), (v, "v")))
    shapes = attention_shapes(q, k, v, enable_gqa)
    check_choice(layout, "layout", rope.LAYOUTS)
    head_dim = q.shape[-1]
    query_angles = rotary_angles(angles, "angles", head_dim, rotary_dim)
    if key_angles is None:
        key_rotation = query_angles
    else:
        if query_angles is None:
            raise ValueError("key_angles were given without angles (the queries' angles)")
        key_rotation = rotary_angles(key_angles, "key_angles", head_dim,
                                     2 * query_angles.shape[-1])
    checked_mask = None if mask is None else as_mask(mask, shapes.logits)
    checked_bias = None if bias is None else additive_bias(bias, shapes.logits)
    return _Inputs(q, k, v, checked_mask, checked_bias, scale_factor(scale, head_dim),
                   query_angles, key_rotation, layout, shapes.groups, shapes.logits,
                   shapes.output)


def _weights(inputs: _Inputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotated q and k, and the attention weights."""
    q_rot = rotate(inputs.q, inputs.angles, inputs.layout)
    k_rot = rotate(inputs.k, inputs.key_angles, inputs.layout)
    return q_rot, k_rot, attention_weights_unchecked(q_rot, k_rot, inputs.mask, inputs.bias,
                                                     inputs.factor, inputs.groups)


def attention_logits(q: ArrayLike, k: ArrayLike, bias: ArrayLike | None = None, *,
                     scale: bool = True, angles: ArrayLike | None = None,
                     key_angles: ArrayLike | None = None, layout: str = "interleaved",
                     enable_gqa: bool = False, rotary_dim: int | None = None) -> np.ndarray:
    """The pre-softmax scores ``(R_m q)^T (R_n k) / sqrt(d) + bias``, shape ``(..., Tq, Tk)``.

    With RoPE, :math:`(R_m q)^T (R_n k) = q^T R_{n-m} k`: the score depends on the
    positions only through their offset. Arguments as in
    :func:`scaled_dot_product_attention` (no mask: masking acts in the softmax).

    Examples
    --------
    >>> attention_logits([[1.0, 0.0]], [[2.0, 0.0], [0.0, 1.0]], scale=False)
    array([[2., 0.]])
    """
    inputs = _inputs(q, k, k, None, bias, scale, angles, key_angles, layout, enable_gqa,
                     rotary_dim)
    q_rot = rotate(inputs.q, inputs.angles, layout)
    k_rot = rotate(inputs.k, inputs.key_angles, layout)
    logits = ungroup_heads(group_heads(q_rot * inputs.factor, inputs.groups)
                           @ np.swapaxes(k_rot, -1, -2), inputs.groups)
    return logits if inputs.bias is None else logits + inputs.bias


def attention_weights(q: ArrayLike, k: ArrayLike, mask: ArrayLike | None = None,
                      bias: ArrayLike | None = None, *, scale: bool = True,
                      angles: ArrayLike | None = None, key_angles: ArrayLike | None = None,
                      layout: str = "interleaved", enable_gqa: bool = False,
                      rotary_dim: int | None = None) -> np.ndarray:
    """The attention weights: the softmax of :func:`attention_logits` over the allowed keys.

    .. math::

        w_{ij} = \\frac{M_{ij} \\exp s_{ij}}{\\sum_l M_{il} \\exp s_{il}}, \\quad
        s_{ij} = \\frac{(R_{m_i} q_i)^T (R_{n_j} k_j)}{\\sqrt d} + b_{ij}

    :func:`scaled_dot_product_attention` is ``attention_weights(...) @ v`` (per group of
    heads with ``enable_gqa``); a model that keeps the weights for its backward pass
    (:func:`attention_backward_from_weights`) computes them with this function.
    Arguments as in :func:`scaled_dot_product_attention`.

    Returns
    -------
    ndarray, shape (..., Tq, Tk)
        Each row sums to 1 over its allowed keys; a row with no allowed key (or no keys
        at all) is all zeros. Raises ``ValueError`` if the logits overflow.

    Examples
    --------
    >>> attention_weights([[1.0, 0.0]], [[np.log(3.0), 0.0], [0.0, 1.0]], scale=False)
    array([[0.75, 0.25]])
    """
    inputs = _inputs(q, k, k, mask, bias, scale, angles, key_angles, layout, enable_gqa,
                     rotary_dim)
    return _weights(inputs)[2]


def attention_backward_from_weights(grad: ArrayLike, q: ArrayLike, k: ArrayLike,
                                    v: ArrayLike, weights: ArrayLike, output: ArrayLike, *,
                                    scale: bool = True, enable_gqa: bool = False
                                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``output = weights v`` in ``q``, ``k`` and ``v``, given the forward's weights.

    The backward pass of softmax attention when the forward kept its weights
    :math:`W` (:func:`attention_weights`) and output :math:`O = W V`, so nothing is
    recomputed. With :math:`G` the upstream gradient and :math:`c = 1/\\sqrt d`
    (or 1 with ``scale=False``):

    .. math::

        \\bar V = W^T G, \\quad
        \\bar S = W \\odot (\\bar W - \\operatorname{rowsum}(W \\odot \\bar W)), \\quad
        \\bar W = G V^T, \\quad
        \\bar Q = c\\, \\bar S K, \\quad \\bar K = c\\, \\bar S^T Q

    The row sums :math:`\\sum_j \\bar W_{ij} W_{ij}` are taken over the computed
    :math:`\\bar W`. They equal :math:`\\langle g_i, o_i \\rangle` (FlashAttention's
    ``D``; Dao et al. 2022, Algorithm 2) in exact arithmetic, but only the consistent
    form is exactly zero where a row of ``W`` is one-hot, as the true gradient is. Masked
    entries and fully masked rows have zero weight, hence zero gradient. Gradients of
    broadcast (or shared, with ``enable_gqa``) axes are summed back to each argument's
    shape.

    Parameters
    ----------
    grad : array_like, shape (..., Tq, dv)
        Upstream gradient of ``output``.
    q, k : array_like, shapes (..., Tq, d) and (..., Tk, d)
        Queries and keys *as they entered the logits*: already rotated when RoPE is
        used. Chain with the RoPE VJP (:func:`refimpl.rope.apply_vjp`) to reach the
        unrotated ones.
    v : array_like, shape (..., Tk, dv)
    weights : array_like, shape (..., Tq, Tk)
        The forward's attention weights.
    output : array_like, shape (..., Tq, dv)
        The forward's output ``weights @ v``; only its shape is used, to check ``grad``.
    scale, enable_gqa : bool
        As in the forward.

    Returns
    -------
    (grad_q, grad_k, grad_v)
        Shaped like ``q``, ``k`` and ``v``.

    Examples
    --------
    >>> q, k, v = np.ones((1, 2)), np.ones((3, 2)), np.eye(3, 2)
    >>> w = attention_weights(q, k)
    >>> gq, gk, gv = attention_backward_from_weights(np.ones((1, 2)), q, k, v, w, w @ v)
    >>> gv  # the weights are uniform, 1/3 each
    array([[0.33333333, 0.33333333],
           [0.33333333, 0.33333333],
           [0.33333333, 0.33333333]])
    """
    inputs = _inputs(q, k, v, None, None, scale, None, None, "interleaved", enable_gqa, None)
    saved = saved_array(weights, "weights", inputs.logits_shape)
    saved_array(output, "output", inputs.output_shape)
    upstream = cotangent(grad, inputs.output_shape)
    grad_q, grad_k, grad_v, _ = attention_backward_unchecked(
        upstream, inputs.q, inputs.k, inputs.v, saved, inputs.factor, inputs.groups)
    return (sum_to_shape(grad_q, inputs.q.shape), sum_to_shape(grad_k, inputs.k.shape),
            sum_to_shape(grad_v, inputs.v.shape))


def scaled_dot_product_attention(q: ArrayLike, k: ArrayLike, v: ArrayLike,
                                 mask: ArrayLike | None = None, bias: ArrayLike | None = None,
                                 *, scale: bool = True, angles: ArrayLike | None = None,
                                 key_angles: ArrayLike | None = None,
                                 layout: str = "interleaved", enable_gqa: bool = False,
                                 rotary_dim: int | None = None) -> np.ndarray:
    """Softmax attention of each query over the allowed keys, with optional RoPE.

    .. math::

        o_i = \\sum_{j : M_{ij}} w_{ij} v_j, \\quad
        w_{ij} = \\frac{\\exp s_{ij}}{\\sum_{l : M_{il}} \\exp s_{il}}, \\quad
        s_{ij} = \\frac{(R_{m_i} q_i)^T (R_{n_j} k_j)}{\\sqrt d} + b_{ij}

    Parameters
    ----------
    q : array_like, shape (..., Tq, d)
    k : array_like, shape (..., Tk, d)
    v : array_like, shape (..., Tk, dv)
        Leading (batch, head) axes broadcast by NumPy's rules (a key/value head axis of
        length 1 is multi-query attention).
    mask : array_like of bool, optional
        Broadcasts to the logits ``(..., Tq, Tk)`` (with a heads axis for per-head
        masks); true means query i may attend to key j (:mod:`refimpl.masks`). A query
        with no allowed key outputs **zeros** and gets zero gradient.
    bias : array_like, optional
        Finite additive logit bias broadcasting to the logits, e.g. ALiBi ``(H, Tq, Tk)``
        (:func:`refimpl.attention.alibi_bias`). PyTorch's additive ``-inf`` masks belong
        in ``mask=``.
    scale : bool
        Divide ``q.k`` by ``sqrt(d)`` (default) or not (T5, Mesh TensorFlow).
    angles : array_like, shape (..., Tq, P), optional
        RoPE angles (:func:`refimpl.rope.angles`) for the queries, rotating their leading
        ``2P`` features; ``None`` applies no positions. Values are never rotated.
    key_angles : array_like, shape (..., Tk, P), optional
        Angles for the keys; defaults to ``angles`` (self-attention).
    layout : {"interleaved", "half"}
        RoPE pair layout (see :mod:`refimpl.rope`).
    enable_gqa : bool
        Grouped-query attention: axis ``-3`` of k and v holds ``H_kv`` heads dividing
        the ``H`` heads of q, and query head ``h`` reads key/value head
        ``h // (H / H_kv)`` (torch's ``enable_gqa``; :func:`refimpl.attention.repeat_kv`).
    rotary_dim : int, optional
        Required when the angles rotate fewer features than ``d`` (partial rotary):
        must then equal ``2P``. A short ``angles`` is never taken as partial rotary
        silently.

    Returns
    -------
    ndarray, shape (..., Tq, dv)

    References
    ----------
    Vaswani et al., "Attention Is All You Need", 2017; Su et al., "RoFormer", 2021;
    Ainslie et al., "GQA", 2023, arXiv:2305.13245.

    Examples
    --------
    >>> v = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> scaled_dot_product_attention(np.zeros((2, 4)), np.zeros((2, 4)), v,
    ...                              mask=[[True, False], [False, False]])
    array([[1., 0.],
           [0., 0.]])
    >>> q, kv = np.zeros((4, 1, 2)), np.ones((2, 3, 2))   # 4 query heads, 2 kv heads
    >>> scaled_dot_product_attention(q, kv, kv, enable_gqa=True).shape
    (4, 1, 2)
    """
    inputs = _inputs(q, k, v, mask, bias, scale, angles, key_angles, layout, enable_gqa,
                     rotary_dim)
    return attend_unchecked(_weights(inputs)[2], inputs.v, inputs.groups)


def scaled_dot_product_attention_vjp(
        grad: ArrayLike, q: ArrayLike, k: ArrayLike, v: ArrayLike,
        mask: ArrayLike | None = None, bias: ArrayLike | None = None, *, scale: bool = True,
        angles: ArrayLike | None = None, key_angles: ArrayLike | None = None,
        layout: str = "interleaved", enable_gqa: bool = False, rotary_dim: int | None = None
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """VJP of :func:`scaled_dot_product_attention` in ``q``, ``k``, ``v`` and ``bias``.

    With :math:`G` the upstream gradient, :math:`W` the attention weights and
    :math:`O = W V`:

    .. math::

        \\bar V = W^T G, \\quad \\bar S = W \\odot (G V^T - \\operatorname{rowsum}(G \\odot O)),
        \\quad \\bar Q = R^T \\frac{\\bar S\\, (R K)}{\\sqrt d}, \\quad
        \\bar K = R^T \\frac{\\bar S^T (R Q)}{\\sqrt d}, \\quad \\bar B = \\bar S

    where :math:`R^T` is the RoPE VJP; every gradient is summed over the axes its
    argument was broadcast along, and with ``enable_gqa`` over the query heads that
    share a key/value head. Masked entries and fully masked rows get zero gradient.

    Returns
    -------
    (grad_q, grad_k, grad_v, grad_bias)
        ``grad_bias`` is ``None`` when ``bias`` is ``None``; the angles and the mask are
        not differentiated.

    Examples
    --------
    >>> q, k, v = np.ones((1, 2)), np.ones((3, 2)), np.eye(3, 2)
    >>> gq, gk, gv, gb = scaled_dot_product_attention_vjp(np.ones((1, 2)), q, k, v)
    >>> gv  # the weights are uniform, 1/3 each
    array([[0.33333333, 0.33333333],
           [0.33333333, 0.33333333],
           [0.33333333, 0.33333333]])
    """
    inputs = _inputs(q, k, v, mask, bias, scale, angles, key_angles, layout, enable_gqa,
                     rotary_dim)
    upstream = cotangent(grad, inputs.output_shape)
    q_rot, k_rot, weights = _weights(inputs)
    grad_q, grad_k, grad_v, grad_logits = attention_backward_unchecked(
        upstream, q_rot, k_rot, inputs.v, weights, inputs.factor, inputs.groups)
    grad_bias = None if inputs.bias is None else sum_to_shape(grad_logits, inputs.bias.shape)
    grad_q = rotate_transpose(grad_q, inputs.angles, layout)
    grad_k = rotate_transpose(grad_k, inputs.key_angles, layout)
    return (sum_to_shape(grad_q, inputs.q.shape), sum_to_shape(grad_k, inputs.k.shape),
            sum_to_shape(grad_v, inputs.v.shape), grad_bias)
