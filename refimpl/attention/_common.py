"""Input checks and small helpers shared by the modules of :mod:`refimpl.attention`.

:func:`attention_shapes` validates queries, keys and values and works out how their
leading axes combine (NumPy broadcasting, plus the grouped-query rule of
``enable_gqa``); :func:`rotary_angles` validates RoPE angles against the head size
(partial rotary must be explicit); :func:`rotate` and :func:`rotate_transpose` apply
RoPE and its transpose to the leading ``2P`` features; :func:`group_heads` and
:func:`ungroup_heads` are the reshapes that let each key/value head serve its group of
query heads in one matrix product.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from refimpl import rope
from refimpl._broadcasting import broadcasts_to
from refimpl._validation import as_float_array, as_int, check_ndim

__all__ = ["AttentionShapes", "attention_shapes", "rotary_angles", "rotate",
           "rotate_transpose", "group_heads", "ungroup_heads", "additive_bias", "saved_array"]


@dataclasses.dataclass(frozen=True)
class AttentionShapes:
    """How q ``(..., Tq, d)``, k ``(..., Tk, d)`` and v ``(..., Tk, dv)`` combine.

    ``groups`` query heads share each key/value head (1 without grouped-query
    attention); ``logits`` and ``output`` are the shapes of ``q k^T`` and of the result.
    """

    groups: int
    logits: tuple[int, ...]
    output: tuple[int, ...]


def _broadcast(names: str, *shapes: tuple[int, ...], hint: str = "") -> tuple[int, ...]:
    """``np.broadcast_shapes`` of the leading axes, or raise naming the arguments."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise ValueError(f"the leading (batch, head) axes of {names} must broadcast, got "
                         f"{', '.join(map(str, shapes))}{hint}") from None


def attention_shapes(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                     enable_gqa: object = False) -> AttentionShapes:
    """Check the shapes of q, k, v and return how they combine.

    Without ``enable_gqa`` every leading axis broadcasts by NumPy's rules (so a key/value
    head axis of length 1 serves every query head: multi-query attention). With it, the
    heads axis is ``-3``: ``k`` and ``v`` carry ``H_kv`` heads dividing the ``H`` query
    heads, query head ``h`` reads key/value head ``h // (H / H_kv)`` (torch's
    ``enable_gqa``, Hugging Face's ``repeat_kv``), and the axes before it broadcast.
    """
    if not isinstance(enable_gqa, (bool, np.bool_)):
        raise TypeError(f"enable_gqa must be True or False, got {enable_gqa!r}")
    for array, name in ((q, "q"), (k, "k"), (v, "v")):
        check_ndim(array, name, 3 if enable_gqa else 2)
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"q and k need the same head dimension and k and v the same number "
                         f"of keys, got shapes q {q.shape}, k {k.shape}, v {v.shape}")
    tq, tk, dv = q.shape[-2], k.shape[-2], v.shape[-1]
    if not enable_gqa:
        heads_differ = min(q.ndim, k.ndim) >= 3 and 1 < k.shape[-3] != q.shape[-3] > 1
        hint = (f" (k and v have {k.shape[-3]} heads, q has {q.shape[-3]}: for grouped-query "
                f"attention pass enable_gqa=True)") if heads_differ else ""
        lead = _broadcast("q, k and v", q.shape[:-2], k.shape[:-2], v.shape[:-2], hint=hint)
        lead_qk = _broadcast("q and k", q.shape[:-2], k.shape[:-2])
        return AttentionShapes(1, lead_qk + (tq, tk), lead + (tq, dv))
    heads, kv_heads = q.shape[-3], k.shape[-3]
    if v.shape[-3] != kv_heads or heads % kv_heads:
        raise ValueError(f"with enable_gqa=True the key/value heads (axis -3 of k and v) must "
                         f"be equal and divide the query heads, got n_heads={heads} (q "
                         f"{q.shape}), n_kv_heads={kv_heads} (k {k.shape}) and {v.shape[-3]} "
                         f"(v {v.shape})")
    batch = _broadcast("q, k and v", q.shape[:-3], k.shape[:-3], v.shape[:-3])
    batch_qk = _broadcast("q and k", q.shape[:-3], k.shape[:-3])
    return AttentionShapes(heads // kv_heads, batch_qk + (heads, tq, tk),
                           batch + (heads, tq, dv))


def group_heads(x: np.ndarray, groups: int) -> np.ndarray:
    """``(..., H, T, n)`` to ``(..., H / groups, groups * T, n)``: each key/value head's
    query heads stacked along the rows (query head ``h`` is group ``h // groups``)."""
    if groups == 1:
        return x
    return x.reshape(x.shape[:-3] + (x.shape[-3] // groups, groups * x.shape[-2], x.shape[-1]))


def ungroup_heads(x: np.ndarray, groups: int) -> np.ndarray:
    """The inverse of :func:`group_heads`: ``(..., H_kv, G T, n)`` to ``(..., G H_kv, T, n)``."""
    if groups == 1:
        return x
    return x.reshape(x.shape[:-3] + (x.shape[-3] * groups, x.shape[-2] // groups, x.shape[-1]))


def rotary_angles(value: ArrayLike | None, name: str, head_dim: int,
                  rotary_dim: object = None) -> np.ndarray | None:
    """RoPE angles ``(..., T, P)`` rotating ``2P`` of the ``head_dim`` features, or None.

    At least two axes: a single row ``(P,)`` would rotate every query and key alike,
    which cancels in their scores; it is far more often positions passed as angles.

    ``2P < head_dim`` (partial rotary) is accepted only when ``rotary_dim = 2P`` says so:
    a short ``angles`` is otherwise far more often a mistake (positions passed where
    angles belong) than a wish.
    """
    if value is None:
        if rotary_dim is not None:
            raise ValueError(f"rotary_dim={rotary_dim!r} was given without angles")
        return None
    angles = as_float_array(value, name)
    if angles.ndim < 2:
        raise ValueError(
            f"{name} must have shape (..., T, P), one row of P angles per position, got shape "
            f"{angles.shape}; if these are positions, turn them into angles first: "
            f"rope.angles(positions, rope.inv_freq({head_dim}))")
    width = 2 * angles.shape[-1]
    if width > head_dim:
        raise ValueError(f"{name} of shape {angles.shape} rotate {width} features but the "
                         f"head dimension of q and k is {head_dim} (rotary_dim > head_dim)")
    if rotary_dim is not None and as_int(rotary_dim, "rotary_dim") != width:
        raise ValueError(f"rotary_dim={rotary_dim} does not match {name} of shape "
                         f"{angles.shape}, which rotate 2 * {angles.shape[-1]} = {width} "
                         f"features")
    if width < head_dim and rotary_dim is None:
        raise ValueError(
            f"{name} of shape {angles.shape} rotate only {width} of the {head_dim} features "
            f"of q and k: partial rotary must be explicit, pass rotary_dim={width}; if you "
            f"passed positions, turn them into angles first: "
            f"rope.angles(positions, rope.inv_freq({head_dim}))")
    return angles


def rotate(x: np.ndarray, angles: np.ndarray | None, layout: str,
           magnitude: float = 1.0) -> np.ndarray:
    """RoPE on the leading ``2P`` features of ``x`` (times ``magnitude``), the rest as is.

    ``x`` itself without angles. The leading axes of ``x`` and ``angles`` broadcast.
    """
    if angles is None:
        return x
    scale = None if magnitude == 1.0 else magnitude
    width = 2 * angles.shape[-1]
    if width == x.shape[-1]:
        return rope.apply(x, angles, layout=layout, magnitude=scale)
    rotated = rope.apply(x[..., :width], angles, layout=layout, magnitude=scale)
    rest = np.broadcast_to(x[..., width:], rotated.shape[:-1] + (x.shape[-1] - width,))
    return np.concatenate([rotated, rest], axis=-1)


def rotate_transpose(grad: np.ndarray, angles: np.ndarray | None, layout: str,
                     magnitude: float = 1.0) -> np.ndarray:
    """The transpose of :func:`rotate` applied to ``grad``: its gradient in ``x``.

    The rotation is orthogonal, ``R(phi)^T = R(-phi)``, so rotating back by ``-phi``
    (with the same magnitude) is the VJP in ``x``; the angles are not differentiated.
    """
    return rotate(grad, None if angles is None else -angles, layout, magnitude)


def additive_bias(value: ArrayLike, logits_shape: tuple[int, ...]) -> np.ndarray:
    """A finite float64 bias broadcasting to ``logits_shape``, or raise with the fix.

    The PyTorch habit of an additive ``-inf`` mask (and a boolean mask given as a bias)
    gets a message pointing to ``mask=``.
    """
    array = np.asarray(value)
    if array.dtype.kind == "b":
        raise TypeError(f"bias is boolean (shape {array.shape}): a boolean mask goes in "
                        f"mask= (true = may attend); bias= is an additive float logit bias")
    bias = as_float_array(array, "bias", allow_nonfinite=True)
    if np.any(np.isneginf(bias)):
        raise ValueError("bias holds -inf: that is PyTorch's additive mask; pass the boolean "
                         "mask=(bias != -inf) instead (true = may attend) and keep only the "
                         "finite part as bias")
    if not np.all(np.isfinite(bias)):
        raise ValueError(f"bias must be finite, got a value "
                         f"{bias[~np.isfinite(bias)].ravel()[0]} in shape {bias.shape}")
    if not broadcasts_to(bias.shape, logits_shape):
        raise ValueError(f"bias of shape {bias.shape} must broadcast to the logits shape "
                         f"{tuple(logits_shape)} (..., heads, Tq, Tk)")
    return bias


def saved_array(value: ArrayLike, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A saved forward quantity: a finite float64 array of exactly ``shape``."""
    array = as_float_array(value, name)
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)} (from q, k and v), got "
                         f"{array.shape}")
    return array
