"""Scaled dot-product attention with masks, an additive bias and RoPE; linear attention.

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

Shapes: queries ``(..., T_q, d)``, keys ``(..., T_k, d)``, values ``(..., T_k, d_v)``
with the same leading (batch, head) axes; use :func:`split_heads` to go from
``(..., T, H d)`` to ``(..., H, T, d)``. Logits, masks and biases are
``(..., T_q, T_k)``.

Linear attention (Katharopoulos et al. 2020) replaces ``exp(q.k)`` by
``phi(q).phi(k)`` with a positive feature map, so the cost is linear in the length;
:func:`linear_attention` puts RoPE in its numerator only, as in the RoPE post.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refimpl import rope
from refimpl._broadcasting import broadcasts_to, cotangent, sum_to_shape
from refimpl._validation import as_float_array, as_int, check_choice, check_ndim
from refimpl.masks import as_mask

__all__ = ["softmax", "softmax_vjp", "split_heads", "merge_heads", "attention_logits",
           "attention_weights", "attention_backward_from_weights",
           "scaled_dot_product_attention", "scaled_dot_product_attention_vjp",
           "linear_attention", "linear_attention_vjp"]

def _axis(x: np.ndarray, axis: Any) -> int:
    """Validate an axis of ``x`` and return it as a non-negative int."""
    axis = as_int(axis, "axis")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must index an axis of x with shape {x.shape}, got axis={axis}")
    return axis % x.ndim


def _any_allowed(mask: np.ndarray | None, shape: tuple[int, ...], axis: int):
    """Per slice along ``axis`` (kept as size 1): does it have an allowed entry?"""
    if shape[axis] == 0 or mask is None:
        return shape[axis] > 0
    from_end = axis - len(shape)
    return np.any(mask, axis=from_end, keepdims=True) if mask.ndim >= -from_end else mask


def _softmax_into(logits: np.ndarray, mask: np.ndarray | None, axis: int) -> np.ndarray:
    """Masked softmax of ``logits`` along ``axis``, computed in place (see :func:`softmax`).

    A slice whose peak is -inf has no allowed entry (fully masked, or no keys at all)
    and becomes zeros, unless it has allowed entries that all overflowed to -inf.
    """
    if mask is not None:
        np.copyto(logits, -np.inf, where=~mask)
    peak = np.max(logits, axis=axis, keepdims=True, initial=-np.inf)
    empty = peak == -np.inf
    if np.any(np.isnan(peak) | (peak == np.inf) | (empty & _any_allowed(mask, logits.shape,
                                                                          axis))):
        raise ValueError("attention logits overflowed (q.k + bias is beyond the float64 "
                         "range); rescale q and k")
    peak[empty] = 0.0  # an empty slice: every entry is -inf and stays so
    with np.errstate(over="ignore"):  # a spread beyond float64 gives -inf: exp(-inf) = 0 exactly
        logits -= peak
    np.exp(logits, out=logits)
    total = np.sum(logits, axis=axis, keepdims=True)
    total[empty] = 1.0  # empty slices stay all zero
    logits /= total
    return logits


def softmax(x: Any, axis: int = -1, *, mask: Any = None) -> np.ndarray:
    """Softmax along ``axis``, computed stably by shifting by the maximum; optionally masked.

    .. math:: \\operatorname{softmax}(x)_i = \\frac{M_i\\, e^{x_i - m}}{\\sum_j M_j\\,
        e^{x_j - m}}, \\quad m = \\max_{j : M_j} x_j

    The shift leaves the value unchanged and keeps every exponent ``<= 0``, so nothing
    overflows and the denominator is at least 1.

    Parameters
    ----------
    x : array_like, finite
    axis : int
    mask : array_like of bool, optional
        Broadcasts to ``x``; false entries get probability 0. Where every entry along
        ``axis`` is masked the output is all zeros (not a distribution), and so is the
        gradient.

    Returns
    -------
    ndarray, shape of ``x``; non-negative and summing to 1 along ``axis`` (or to 0 on
    fully masked slices).

    Examples
    --------
    >>> softmax([0.0, np.log(3.0)])
    array([0.25, 0.75])
    >>> softmax([1000.0, 1000.0])  # no overflow
    array([0.5, 0.5])
    >>> softmax([[1.0, 2.0], [3.0, 4.0]], mask=[[True, False], [False, False]])
    array([[1., 0.],
           [0., 0.]])
    """
    x = as_float_array(x, "x")
    check_ndim(x, "x", 1)
    axis = _axis(x, axis)
    mask = None if mask is None else as_mask(mask, x.shape)
    return _softmax_into(x.copy(), mask, axis)


def softmax_vjp(grad: Any, x: Any, axis: int = -1, *, mask: Any = None) -> np.ndarray:
    """VJP of :func:`softmax` in ``x``.

    With :math:`s = \\operatorname{softmax}(x)` the Jacobian is
    :math:`\\operatorname{diag}(s) - s s^T`, so

    .. math:: \\frac{\\partial L}{\\partial x} = s \\odot (g - \\langle g, s \\rangle)

    Masked entries (where ``s = 0``) and fully masked slices get gradient 0.

    Examples
    --------
    >>> softmax_vjp([1.0, 1.0], [0.3, -2.0])  # softmax is invariant to a common shift
    array([0., 0.])
    """
    x = as_float_array(x, "x")
    check_ndim(x, "x", 1)
    grad = cotangent(grad, x.shape)
    axis = _axis(x, axis)
    s = softmax(x, axis, mask=mask)
    return s * (grad - np.sum(grad * s, axis=axis, keepdims=True))



def _saved_array(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A saved forward quantity: a finite float64 array of exactly ``shape``."""
    array = as_float_array(value, name)
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} (from q, k and v), got "
                         f"{array.shape}")
    return array


def split_heads(x: Any, n_heads: int) -> np.ndarray:
    """Reshape ``(..., T, H d)`` to ``(..., H, T, d)``; head ``h`` owns features
    ``h d .. h d + d - 1``.

    Its VJP is :func:`merge_heads` (the map is a permutation of entries).

    Examples
    --------
    >>> split_heads(np.arange(8.0).reshape(2, 4), 2)[1]  # head 1 of both positions
    array([[2., 3.],
           [6., 7.]])
    """
    x = as_float_array(x, "x")
    check_ndim(x, "x", 2)
    n_heads = as_int(n_heads, "n_heads", minimum=1)
    if x.shape[-1] % n_heads:
        raise ValueError(f"x's last dimension {x.shape[-1]} is not divisible by "
                         f"n_heads={n_heads}")
    return split_heads_unchecked(x, n_heads)


def split_heads_unchecked(x: np.ndarray, n_heads: int) -> np.ndarray:
    """:func:`split_heads` without its checks (internal, not in ``__all__``).

    For callers that have validated ``x`` and ``n_heads`` themselves, once for many
    calls (:mod:`refimpl.transformer`); any other caller wants :func:`split_heads`.
    """
    heads = x.reshape(x.shape[:-1] + (n_heads, x.shape[-1] // n_heads))
    return np.swapaxes(heads, -2, -3)


def merge_heads(x: Any) -> np.ndarray:
    """Reshape ``(..., H, T, d)`` to ``(..., T, H d)``, the inverse of :func:`split_heads`.

    Its VJP is :func:`split_heads` with ``H`` heads.

    Examples
    --------
    >>> x = np.arange(8.0).reshape(2, 4)
    >>> np.array_equal(merge_heads(split_heads(x, 2)), x)
    True
    """
    x = as_float_array(x, "x")
    check_ndim(x, "x", 3)
    return merge_heads_unchecked(x)


def merge_heads_unchecked(x: np.ndarray) -> np.ndarray:
    """:func:`merge_heads` without its checks (internal, not in ``__all__``).

    Same callers as :func:`split_heads_unchecked`.
    """
    tokens_first = np.swapaxes(x, -2, -3)
    return tokens_first.reshape(tokens_first.shape[:-2] + (x.shape[-3] * x.shape[-1],))


def _rotate(x: np.ndarray, angles: np.ndarray | None, layout: str) -> np.ndarray:
    """RoPE on the leading ``2P`` features of ``x``, or ``x`` itself without angles."""
    return x if angles is None else rope.apply(x, angles, layout=layout,
                                                rotary_dim=2 * angles.shape[-1])


def _rotate_vjp(grad: np.ndarray, x: np.ndarray, angles: np.ndarray | None,
                layout: str) -> np.ndarray:
    """Gradient of :func:`_rotate` in ``x`` (the angles are not differentiated)."""
    return grad if angles is None else rope.apply_vjp(grad, x, angles, layout=layout,
                                                             rotary_dim=2 * angles.shape[-1])[0]




def _angles(value: Any, name: str, head_dim: int) -> np.ndarray | None:
    """RoPE angles ``(..., T, P)`` with ``2 P <= head_dim``, or None."""
    if value is None:
        return None
    angles = as_float_array(value, name)
    check_ndim(angles, name, 1)
    if 2 * angles.shape[-1] > head_dim:
        raise ValueError(f"{name} rotate 2 * {angles.shape[-1]} features but the head "
                         f"dimension of q and k is {head_dim} (rotary_dim > head_dim)")
    return angles


def _qk_inputs(q: Any, k: Any, v: Any, angles: Any, key_angles: Any, layout: str):
    """Validate ``q (..., Tq, d)``, ``k (..., Tk, d)``, ``v (..., Tk, dv)`` and the angles."""
    q, k, v = _qkv_inputs(q, k, v)
    check_choice(layout, "layout", rope.LAYOUTS)
    angles = _angles(angles, "angles", q.shape[-1])
    key_angles = angles if key_angles is None else _angles(key_angles, "key_angles", q.shape[-1])
    return q, k, v, angles, key_angles


def _qkv_inputs(q: Any, k: Any, v: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate ``q (..., Tq, d)``, ``k (..., Tk, d)`` and ``v (..., Tk, dv)``."""
    q, k, v = (as_float_array(a, n) for a, n in ((q, "q"), (k, "k"), (v, "v")))
    for array, name in ((q, "q"), (k, "k"), (v, "v")):
        check_ndim(array, name, 2)
    if not q.shape[:-2] == k.shape[:-2] == v.shape[:-2]:
        raise ValueError(f"q, k and v must share their leading (batch, head) axes, got "
                         f"shapes {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"q and k need the same head dimension and k and v the same number "
                         f"of keys, got shapes {q.shape}, {k.shape}, {v.shape}")
    return q, k, v


def scale_factor(scale: Any, head_dim: int) -> float:
    """``1 / sqrt(head_dim)`` when ``scale`` is true, else 1 (internal, not in ``__all__``).

    The logit factor of the ``scale=`` switch of the functions below; the model code
    (:mod:`refimpl.transformer`) passes it to :func:`attention_weights_unchecked`.
    """
    if not isinstance(scale, (bool, np.bool_)):
        raise TypeError(f"scale must be True or False, got {scale!r}")
    return 1.0 / np.sqrt(head_dim) if scale else 1.0


def attention_weights_unchecked(q_rot: np.ndarray, k_rot: np.ndarray, mask: np.ndarray | None,
                                bias: np.ndarray | None, factor: float) -> np.ndarray:
    """``softmax(factor q k^T + bias)`` over the allowed keys (rotated q and k).

    :func:`attention_weights` without its checks (internal, not in ``__all__``): ``mask``
    is a boolean array from :func:`refimpl.masks.as_mask` or None, ``factor`` comes from
    :func:`scale_factor`. For callers that have validated their inputs once for many
    calls (:mod:`refimpl.transformer`).
    """
    with np.errstate(over="ignore", invalid="ignore"):  # overflow raises in _softmax_into
        logits = (q_rot * factor) @ np.swapaxes(k_rot, -1, -2)
        if bias is not None:
            logits += bias
    return _softmax_into(logits, mask, -1)


def attention_backward_unchecked(grad: np.ndarray, q_rot: np.ndarray, k_rot: np.ndarray,
                                 v: np.ndarray, weights: np.ndarray, factor: float
                                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of ``output = weights v`` in the rotated q and k, v and the logits.

    :func:`attention_backward_from_weights` without its checks (internal, not in
    ``__all__``), also returning the logits' gradient; same callers as
    :func:`attention_weights_unchecked`.

    The softmax backward is :math:`dS_{ij} = W_{ij} (dW_{ij} - \\sum_l W_{il} dW_{il})`
    with :math:`dW = g v^T`. The row sum is taken over the same computed ``dW``, not
    from the output as :math:`\\langle g_i, o_i \\rangle` (FlashAttention's ``D``,
    equal in exact arithmetic): where a row of ``W`` is one-hot (a saturated softmax),
    ``dS`` is then exactly zero, as its true value is, while the ``D`` form leaves the
    round-off of two different sums of size ``|g| |v|``, which ``k`` and ``q`` then
    amplify (to a spurious overflow at weights of size 1e150).
    """
    grad_v = np.swapaxes(weights, -1, -2) @ grad
    grad_logits = grad @ np.swapaxes(v, -1, -2)
    grad_logits -= np.sum(weights * grad_logits, axis=-1, keepdims=True)
    grad_logits *= weights
    grad_q = (grad_logits @ k_rot) * factor
    grad_k = (np.swapaxes(grad_logits, -1, -2) @ q_rot) * factor
    return grad_q, grad_k, grad_v, grad_logits


def _sdpa_inputs(q, k, v, mask, bias, scale, angles, key_angles, layout):
    """Validate every argument of :func:`scaled_dot_product_attention`."""
    q, k, v, angles, key_angles = _qk_inputs(q, k, v, angles, key_angles, layout)
    logits_shape = q.shape[:-1] + (k.shape[-2],)
    mask = None if mask is None else as_mask(mask, logits_shape)
    if bias is not None:
        bias = as_float_array(bias, "bias")
        if not broadcasts_to(bias.shape, logits_shape):
            raise ValueError(f"bias must broadcast to the logits shape {logits_shape}, "
                             f"got shape {bias.shape}")
    return q, k, v, mask, bias, scale_factor(scale, q.shape[-1]), angles, key_angles


def attention_logits(q: Any, k: Any, bias: Any = None, *, scale: bool = True,
                     angles: Any = None, key_angles: Any = None,
                     layout: str = "interleaved") -> np.ndarray:
    """The pre-softmax scores ``(R_m q)^T (R_n k) / sqrt(d) + bias``, shape ``(..., Tq, Tk)``.

    With RoPE, :math:`(R_m q)^T (R_n k) = q^T R_{n-m} k`: the score depends on the
    positions only through their offset. Arguments as in
    :func:`scaled_dot_product_attention` (no mask: masking acts in the softmax).

    Examples
    --------
    >>> attention_logits([[1.0, 0.0]], [[2.0, 0.0], [0.0, 1.0]], scale=False)
    array([[2., 0.]])
    """
    q, k, _, _, bias, factor, angles, key_angles = _sdpa_inputs(
        q, k, k, None, bias, scale, angles, key_angles, layout)
    logits = (_rotate(q, angles, layout) * factor) @ np.swapaxes(_rotate(k, key_angles, layout),
                                                                 -1, -2)
    return logits if bias is None else logits + bias


def attention_weights(q: Any, k: Any, mask: Any = None, bias: Any = None, *,
                      scale: bool = True, angles: Any = None, key_angles: Any = None,
                      layout: str = "interleaved") -> np.ndarray:
    """The attention weights: the softmax of :func:`attention_logits` over the allowed keys.

    .. math::

        w_{ij} = \\frac{M_{ij} \\exp s_{ij}}{\\sum_l M_{il} \\exp s_{il}}, \\quad
        s_{ij} = \\frac{(R_{m_i} q_i)^T (R_{n_j} k_j)}{\\sqrt d} + b_{ij}

    :func:`scaled_dot_product_attention` is ``attention_weights(...) @ v``; a model that
    keeps the weights for its backward pass (:func:`attention_backward_from_weights`)
    computes them with this function. Arguments as in
    :func:`scaled_dot_product_attention`.

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
    q, k, _, mask, bias, factor, angles, key_angles = _sdpa_inputs(
        q, k, k, mask, bias, scale, angles, key_angles, layout)
    return attention_weights_unchecked(_rotate(q, angles, layout),
                                       _rotate(k, key_angles, layout), mask, bias, factor)


def attention_backward_from_weights(grad: Any, q: Any, k: Any, v: Any, weights: Any,
                                    output: Any, *, scale: bool = True
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
    entries and fully masked rows have zero weight, hence zero gradient.

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
    scale : bool
        As in the forward: the logits were divided by ``sqrt(d)``.

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
    q, k, v = _qkv_inputs(q, k, v)
    weights = _saved_array(weights, "weights", q.shape[:-1] + k.shape[-2:-1])
    output = _saved_array(output, "output", q.shape[:-1] + v.shape[-1:])
    grad = cotangent(grad, output.shape)
    return attention_backward_unchecked(grad, q, k, v, weights,
                                        scale_factor(scale, q.shape[-1]))[:3]


def scaled_dot_product_attention(q: Any, k: Any, v: Any, mask: Any = None, bias: Any = None,
                                 *, scale: bool = True, angles: Any = None,
                                 key_angles: Any = None,
                                 layout: str = "interleaved") -> np.ndarray:
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
        Leading axes (batch, heads) must match.
    mask : array_like of bool, optional
        Broadcasts to ``(..., Tq, Tk)``; true means query i may attend to key j
        (:mod:`refimpl.masks`). A query with no allowed key outputs **zeros** and gets
        zero gradient.
    bias : array_like, optional
        Additive logit bias broadcasting to ``(..., Tq, Tk)`` (e.g. ALiBi ``(H, Tq, Tk)``).
    scale : bool
        Divide ``q.k`` by ``sqrt(d)`` (default) or not (T5, Mesh TensorFlow).
    angles : array_like, shape (..., Tq, P), optional
        RoPE angles (:func:`refimpl.rope.angles`) for the queries, rotating their leading
        ``2P <= d`` features; ``None`` applies no positions. Values are never rotated.
    key_angles : array_like, shape (..., Tk, P), optional
        Angles for the keys; defaults to ``angles`` (self-attention).
    layout : {"interleaved", "half"}
        RoPE pair layout (see :mod:`refimpl.rope`).

    Returns
    -------
    ndarray, shape (..., Tq, dv)

    References
    ----------
    Vaswani et al., "Attention Is All You Need", 2017; Su et al., "RoFormer", 2021.

    Examples
    --------
    >>> v = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> scaled_dot_product_attention(np.zeros((2, 4)), np.zeros((2, 4)), v,
    ...                              mask=[[True, False], [False, False]])
    array([[1., 0.],
           [0., 0.]])
    """
    q, k, v, mask, bias, factor, angles, key_angles = _sdpa_inputs(
        q, k, v, mask, bias, scale, angles, key_angles, layout)
    weights = attention_weights_unchecked(_rotate(q, angles, layout),
                                          _rotate(k, key_angles, layout), mask, bias, factor)
    return weights @ v


def scaled_dot_product_attention_vjp(grad: Any, q: Any, k: Any, v: Any, mask: Any = None,
                                     bias: Any = None, *, scale: bool = True,
                                     angles: Any = None, key_angles: Any = None,
                                     layout: str = "interleaved"
                                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """VJP of :func:`scaled_dot_product_attention` in ``q``, ``k``, ``v`` and ``bias``.

    With :math:`G` the upstream gradient, :math:`W` the attention weights and
    :math:`O = W V`:

    .. math::

        \\bar V = W^T G, \\quad \\bar S = W \\odot (G V^T - \\operatorname{rowsum}(G \\odot O)),
        \\quad \\bar Q = R^T \\frac{\\bar S\\, (R K)}{\\sqrt d}, \\quad
        \\bar K = R^T \\frac{\\bar S^T (R Q)}{\\sqrt d}, \\quad \\bar B = \\bar S

    where :math:`R^T` is the RoPE VJP and :math:`\\bar B` is summed over the axes the
    bias was broadcast along. Masked entries and fully masked rows get zero gradient.

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
    q, k, v, mask, bias, factor, angles, key_angles = _sdpa_inputs(
        q, k, v, mask, bias, scale, angles, key_angles, layout)
    grad = cotangent(grad, q.shape[:-1] + v.shape[-1:])
    q_rot, k_rot = _rotate(q, angles, layout), _rotate(k, key_angles, layout)
    weights = attention_weights_unchecked(q_rot, k_rot, mask, bias, factor)
    grad_q, grad_k, grad_v, grad_logits = attention_backward_unchecked(
        grad, q_rot, k_rot, v, weights, factor)
    grad_bias = None if bias is None else sum_to_shape(grad_logits, bias.shape)
    return (_rotate_vjp(grad_q, q, angles, layout), _rotate_vjp(grad_k, k, key_angles, layout),
            grad_v, grad_bias)


def _feature_map(x: np.ndarray) -> np.ndarray:
    """``elu(x) + 1``: ``x + 1`` for ``x > 0`` and ``exp(x)`` otherwise; always positive."""
    return np.where(x > 0.0, x + 1.0, np.exp(np.minimum(x, 0.0)))


def _feature_map_derivative(x: np.ndarray) -> np.ndarray:
    """Derivative of ``elu(x) + 1``: 1 for ``x > 0`` and ``exp(x)`` otherwise."""
    return np.exp(np.minimum(x, 0.0))


def _linear_attention_parts(q, k, v, angles, key_angles, layout):
    """Features, rotated features, ``S = (R phi(K))^T V``, ``z = sum_j phi(k_j)``, den."""
    with np.errstate(over="ignore", invalid="ignore"):  # checked below
        features_q, features_k = _feature_map(q), _feature_map(k)
        state = np.swapaxes(_rotate(features_k, key_angles, layout), -1, -2) @ v
        key_sum = np.sum(features_k, axis=-2)
        denominator = features_q @ key_sum[..., None]
    if not (np.all(np.isfinite(state)) and np.all(np.isfinite(denominator))):
        raise ValueError("linear attention overflowed: q, k or v are beyond the float64 range")
    if k.shape[-2] == 0 and q.shape[-2] > 0:
        raise ValueError(f"linear attention needs at least one key (its output is 0/0 "
                         f"without), got k of shape {k.shape}")
    if np.any(denominator <= 0.0):
        raise ValueError("linear attention's denominator phi(q).sum_j phi(k_j) underflowed "
                         "to 0: q and k are too negative for the elu + 1 feature map")
    return features_q, features_k, state, key_sum, denominator


def linear_attention(q: Any, k: Any, v: Any, *, angles: Any = None, key_angles: Any = None,
                     layout: str = "interleaved") -> np.ndarray:
    """Linear attention with RoPE in the numerator only (non-causal).

    .. math::

        o_i = \\frac{\\sum_j [R_{m_i} \\phi(q_i)]^T [R_{n_j} \\phi(k_j)]\\, v_j}
                    {\\sum_j \\phi(q_i)^T \\phi(k_j)}, \\qquad \\phi(x) = \\operatorname{elu}(x) + 1

    computed as ``(R phi(Q)) ((R phi(K))^T V) / (phi(Q) sum_j phi(k_j))`` in
    ``O((Tq + Tk) d dv)``. The feature map is positive, so the denominator is positive;
    the rotation is kept out of it because rotated features can make it zero or negative.
    The weights in the numerator are therefore not a probability distribution (they
    may be negative and need not sum to 1). Shifting every position by a constant leaves
    the output unchanged, since :math:`R_m^T R_n = R_{n-m}`.

    Parameters
    ----------
    q : array_like, shape (..., Tq, d)
    k : array_like, shape (..., Tk, d)
    v : array_like, shape (..., Tk, dv)
    angles, key_angles, layout
        RoPE, as in :func:`scaled_dot_product_attention`.

    Returns
    -------
    ndarray, shape (..., Tq, dv)

    Raises
    ------
    ValueError
        If a denominator underflows to 0 (every product ``phi(q_i) phi(k_j)`` below
        about ``1e-308``, i.e. entries of q and k near ``-350`` or below).

    References
    ----------
    Katharopoulos et al., "Transformers are RNNs", ICML 2020; Su, "RoFormer" (2021) §3.3
    and https://kexue.fm/archives/8265.

    Examples
    --------
    >>> out = linear_attention(np.zeros((1, 2)), np.zeros((3, 2)), np.eye(3, 2))
    >>> out  # phi(0) = 1: uniform weights over the three keys
    array([[0.33333333, 0.33333333]])
    """
    q, k, v, angles, key_angles = _qk_inputs(q, k, v, angles, key_angles, layout)
    features_q, _, state, _, denominator = _linear_attention_parts(
        q, k, v, angles, key_angles, layout)
    return (_rotate(features_q, angles, layout) @ state) / denominator


def linear_attention_vjp(grad: Any, q: Any, k: Any, v: Any, *, angles: Any = None,
                         key_angles: Any = None, layout: str = "interleaved"
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """VJP of :func:`linear_attention` in ``q``, ``k`` and ``v``.

    With :math:`A = R\\phi(Q)`, :math:`B = R\\phi(K)`, :math:`S = B^T V`,
    :math:`z = \\sum_j \\phi(k_j)`, :math:`\\delta = \\phi(Q) z` and output
    :math:`O = A S / \\delta`:

    .. math::

        \\bar N = G / \\delta, \\quad
        \\bar\\delta = -\\operatorname{rowsum}(G \\odot O) / \\delta, \\quad
        \\bar V = B \\, (A^T \\bar N), \\quad
        \\overline{\\phi(Q)} = R^T(\\bar N S^T) + \\bar\\delta z^T, \\quad
        \\overline{\\phi(K)} = R^T(V (A^T \\bar N)^T) + \\mathbf 1 (\\phi(Q)^T \\bar\\delta)^T

    then :math:`\\bar Q = \\overline{\\phi(Q)} \\odot \\phi'(Q)` and likewise for K.

    Returns
    -------
    (grad_q, grad_k, grad_v)

    Examples
    --------
    >>> gq, gk, gv = linear_attention_vjp(np.ones((1, 2)), np.zeros((1, 2)),
    ...                                   np.zeros((3, 2)), np.eye(3, 2))
    >>> gv
    array([[0.33333333, 0.33333333],
           [0.33333333, 0.33333333],
           [0.33333333, 0.33333333]])
    """
    q, k, v, angles, key_angles = _qk_inputs(q, k, v, angles, key_angles, layout)
    grad = cotangent(grad, q.shape[:-1] + v.shape[-1:])
    features_q, features_k, state, key_sum, denominator = _linear_attention_parts(
        q, k, v, angles, key_angles, layout)
    rotated_q = _rotate(features_q, angles, layout)
    rotated_k = _rotate(features_k, key_angles, layout)
    output = (rotated_q @ state) / denominator
    grad_numerator = grad / denominator
    grad_denominator = -np.sum(grad * output, axis=-1, keepdims=True) / denominator
    grad_state = np.swapaxes(rotated_q, -1, -2) @ grad_numerator
    grad_v = rotated_k @ grad_state
    grad_features_q = (_rotate_vjp(grad_numerator @ np.swapaxes(state, -1, -2), features_q,
                                   angles, layout)
                       + grad_denominator * key_sum[..., None, :])
    grad_key_sum = np.sum(grad_denominator * features_q, axis=-2)
    grad_features_k = (_rotate_vjp(v @ np.swapaxes(grad_state, -1, -2), features_k,
                                   key_angles, layout)
                       + grad_key_sum[..., None, :])
    return (grad_features_q * _feature_map_derivative(q),
            grad_features_k * _feature_map_derivative(k), grad_v)
