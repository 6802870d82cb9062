"""Boolean attention masks: who may attend to whom.

Every mask here is a boolean array whose last two axes are (query, key): ``M[..., i, j]``
true means query ``i`` may attend to key ``j``. Masks combine with ``&``, e.g.
``causal_mask(T) & padding_mask(lengths, T)``, and broadcast against a batch. They are
passed to :func:`refimpl.attention.scaled_dot_product_attention` and
:func:`refimpl.transformer.forward`, which give a query whose row is all false (nothing
to attend to) an output of zeros and a zero gradient.

The sequence-to-sequence masks follow UniLM (Dong et al. 2019) and the UniVAE post
(https://kexue.fm/archives/8475, bert4keras ``UniLM_Mask``): the input is a source
segment (segment id 0) followed by a target segment (id 1). With
``c = cumsum(segment_ids)`` (0 on the source, ``1, 2, ...`` along the target):

=============  ===========================================================
mask           rule for ``M[i, j]``
=============  ===========================================================
UniLM          ``c[j] <= c[i]``
independent    ``s[j] == s[i] and c[j] <= c[i]``
UniAE          ``(s[j] == s[i] and c[j] <= c[i]) or j == 0``
=============  ===========================================================

so the source is bidirectional within itself and never sees the target, the target is
causal within itself, and the target sees all of the source (UniLM), none of it
(independent) or only position 0, the source ``[CLS]`` (UniAE). Padding is not part of
these rules: combine with :func:`padding_mask`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import broadcasts_to
from refimpl._validation import as_int, check_ndim, describe

__all__ = ["as_mask", "bidirectional_mask", "causal_mask", "sliding_window_mask",
           "padding_mask", "unilm_mask", "independent_mask", "uniae_mask"]


def _float_mask_hint(array: np.ndarray, name: str) -> str:
    """What a float mask probably is, and the fix."""
    finite = array[np.isfinite(array)]
    if np.any(np.isneginf(array)) and np.all(finite == 0.0) or (
            finite.size and np.all((finite == 0.0) | (finite <= -1e30))):
        return (f"; it looks like PyTorch's additive mask (0 = attend, -inf = hidden): pass "
                f"{name}=({name} == 0) instead")
    return ("; a float array is an additive logit bias: pass it as bias=, or give a boolean "
            f"{name} (true = may attend)")


def as_mask(mask: ArrayLike, shape: tuple[int, ...], name: str = "mask") -> np.ndarray:
    """Check that ``mask`` is boolean and broadcasts to ``shape``; return it as a bool array.

    Integer arrays of 0 and 1 are accepted. ``mask`` may have fewer axes than ``shape``
    and size-1 axes, but must not enlarge it: ``np.broadcast_shapes(mask.shape, shape)``
    must equal ``shape``. A float mask raises ``TypeError`` with the fix (PyTorch's
    additive ``0 / -inf`` masks: ``mask == 0``).

    Examples
    --------
    >>> as_mask([1, 0], (3, 2))
    array([ True, False])
    """
    try:
        array = np.asarray(mask)
    except Exception as error:  # ragged lists and the like
        raise TypeError(f"{name} must be a boolean array, got {describe(mask)} ({error})"
                        ) from None
    if array.dtype.kind in "iu" and np.all((array == 0) | (array == 1)):
        array = array.astype(bool)
    if array.dtype.kind != "b":
        hint = _float_mask_hint(array, name) if array.dtype.kind == "f" else ""
        raise TypeError(f"{name} must be a boolean array (true = may attend), got dtype "
                        f"{array.dtype}{hint}")
    if not broadcasts_to(array.shape, shape):
        raise ValueError(f"{name} of shape {array.shape} does not broadcast to the "
                         f"(query, key) shape {tuple(shape)}")
    return array


def bidirectional_mask(length: int) -> np.ndarray:
    """Every query may attend to every key: an all-true ``(length, length)`` mask.

    Examples
    --------
    >>> bidirectional_mask(2)
    array([[ True,  True],
           [ True,  True]])
    """
    length = as_int(length, "length", minimum=1)
    return np.ones((length, length), dtype=bool)


def causal_mask(length: int, *, key_length: int | None = None,
                window: int | None = None) -> np.ndarray:
    """Query ``i`` may attend to keys ``j <= i`` (GPT-style autoregressive attention).

    .. math:: M_{ij} = [\\, j \\le i + s \\,] \\;\\wedge\\; [\\, i + s - j < w \\,],
        \\qquad s = \\text{key\\_length} - \\text{length}

    Parameters
    ----------
    length : int
        Number of queries ``T_q``.
    key_length : int, optional
        Number of keys ``T_k >= length`` (default ``length``). The queries are the *last*
        ``length`` positions of the ``key_length`` keys (query ``i`` sits at position
        ``i + s``): the mask of ``length`` new tokens decoded after ``s`` cached ones
        (the bottom-right alignment of FlashAttention and Hugging Face caches).
    window : int, optional
        Sliding window (Mistral; Beltagy et al. 2020, "Longformer", arXiv:2004.05150):
        each query sees only the ``window`` most recent keys, itself included. ``None``
        is unlimited.

    Returns
    -------
    ndarray of bool, shape (length, key_length); lower triangular without a window.

    Examples
    --------
    >>> causal_mask(3).astype(int)
    array([[1, 0, 0],
           [1, 1, 0],
           [1, 1, 1]])
    >>> causal_mask(1, key_length=3).astype(int)   # one new token after two cached ones
    array([[1, 1, 1]])
    >>> causal_mask(3, window=2).astype(int)
    array([[1, 0, 0],
           [1, 1, 0],
           [0, 1, 1]])
    """
    length = as_int(length, "length", minimum=1)
    keys = length if key_length is None else as_int(key_length, "key_length", minimum=length)
    offset = (np.arange(length)[:, None] + (keys - length)) - np.arange(keys)
    mask = offset >= 0
    if window is not None:
        mask &= offset < as_int(window, "window", minimum=1)
    return mask


def sliding_window_mask(length: int, window: int, *,
                        key_length: int | None = None) -> np.ndarray:
    """Causal attention over the ``window`` most recent keys: ``0 <= i - j < window``.

    The same as ``causal_mask(length, window=window, key_length=key_length)``; a
    ``window >= length`` is the plain causal mask, ``window = 1`` lets each query see
    only itself. Hugging Face's ``sliding_window`` has this meaning (keys with
    ``q - k < sliding_window``; ``masking_utils.py``, transformers 5.23.0).

    Examples
    --------
    >>> sliding_window_mask(4, 2).astype(int)
    array([[1, 0, 0, 0],
           [1, 1, 0, 0],
           [0, 1, 1, 0],
           [0, 0, 1, 1]])
    """
    return causal_mask(length, key_length=key_length, window=window)


def padding_mask(lengths: ArrayLike, length: int) -> np.ndarray:
    """Keys at or beyond each sequence's true length are hidden from every query.

    .. math:: M_{bij} = [\\, j < \\text{lengths}_b \\,]

    Queries in the padding still attend to the real keys (their outputs are ignored
    downstream, as in BERT). A sequence of length 0 gives all-false rows.

    Parameters
    ----------
    lengths : array_like of int, shape (...)
        True length of each sequence, ``0 <= lengths <= length``.
    length : int
        Padded length ``T``.

    Returns
    -------
    ndarray of bool, shape (..., T, T)

    Examples
    --------
    >>> padding_mask([2], 3).astype(int)
    array([[[1, 1, 0],
            [1, 1, 0],
            [1, 1, 0]]])
    """
    length = as_int(length, "length", minimum=1)
    lengths = _integer_array(lengths, "lengths")
    if np.any(lengths < 0) or np.any(lengths > length):
        raise ValueError(f"lengths must lie in [0, {length}], got {lengths.tolist()}")
    keys = np.arange(length) < lengths[..., None]
    return np.broadcast_to(keys[..., None, :], lengths.shape + (length, length)).copy()


def _integer_array(value: ArrayLike, name: str) -> np.ndarray:
    """An integer (or boolean) array, or raise naming ``name``."""
    array = np.asarray(value)
    if array.dtype.kind not in "biu":
        raise TypeError(f"{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def _segments(segment_ids: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate 0/1 segment ids ``(..., T)``; return them and ``c = cumsum(s)``."""
    s = _integer_array(segment_ids, "segment_ids")
    check_ndim(s, "segment_ids", 1)
    if s.shape[-1] == 0 or not np.all((s == 0) | (s == 1)):
        raise ValueError(f"segment_ids must be a non-empty array of 0 (source) and "
                         f"1 (target), got {s.tolist()}")
    return s, np.cumsum(s, axis=-1)


def unilm_mask(segment_ids: ArrayLike) -> np.ndarray:
    """UniLM sequence-to-sequence mask: ``M[i, j] = c[j] <= c[i]`` with ``c = cumsum(s)``.

    The source attends bidirectionally to the source; target token ``i`` attends to the
    whole source and to the target up to and including itself.

    Parameters
    ----------
    segment_ids : array_like of 0/1, shape (..., T)

    Returns
    -------
    ndarray of bool, shape (..., T, T)

    References
    ----------
    Dong et al., "Unified Language Model Pre-training", NeurIPS 2019; bert4keras
    ``UniLM_Mask``.

    Examples
    --------
    >>> unilm_mask([0, 0, 1, 1]).astype(int)
    array([[1, 1, 0, 0],
           [1, 1, 0, 0],
           [1, 1, 1, 0],
           [1, 1, 1, 1]])
    """
    _, c = _segments(segment_ids)
    return c[..., None, :] <= c[..., :, None]


def independent_mask(segment_ids: ArrayLike) -> np.ndarray:
    """Block-diagonal mask: ``M[i, j] = (s[j] == s[i]) and (c[j] <= c[i])``.

    Source bidirectional, target causal, no attention between the two segments (the
    UniVAE post's lower layers).

    Examples
    --------
    >>> independent_mask([0, 0, 1, 1]).astype(int)
    array([[1, 1, 0, 0],
           [1, 1, 0, 0],
           [0, 0, 1, 0],
           [0, 0, 1, 1]])
    """
    s, c = _segments(segment_ids)
    same_segment = s[..., None, :] == s[..., :, None]
    return same_segment & (c[..., None, :] <= c[..., :, None])


def uniae_mask(segment_ids: ArrayLike) -> np.ndarray:
    """UniAE mask: the independent mask plus key column 0 for every query.

    .. math:: M_{ij} = ([s_j = s_i] \\wedge [c_j \\le c_i]) \\vee [j = 0]

    The target sees the source only through position 0 (the source ``[CLS]``), which
    makes that position an autoencoder bottleneck (UniVAE post, §"UniAE").

    Examples
    --------
    >>> uniae_mask([0, 0, 1, 1]).astype(int)
    array([[1, 1, 0, 0],
           [1, 1, 0, 0],
           [1, 0, 1, 0],
           [1, 0, 1, 1]])
    """
    mask = independent_mask(segment_ids)
    mask[..., 0] = True
    return mask
