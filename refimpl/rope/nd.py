"""RoPE for n-dimensional positions: every variant is a frequency matrix ``F``.

A token at position ``p = (p_0, ..., p_{n-1})`` (row and column of an image patch; time,
height and width of a video patch) is rotated pair by pair exactly as in 1-D RoPE; only
the angle of pair ``j`` becomes a linear function of the whole position,

.. math:: \\varphi_j(p) = \\sum_k p_k F_{kj}, \\qquad F \\in \\mathbb{R}^{n \\times P}.

The 2-D/N-D schemes in use differ only in ``F`` (docs/rope_nd.md; the RoPE-2D post
kexue.fm/archives/8397 and its sequel kexue.fm/archives/10040): the post's axial split
(:func:`axial_frequencies`), the axis-interleaved assignment of the sequel
(:func:`axis_interleaved_frequencies`), RoPE-Mixed with a learnable ``F``
(:func:`mixed_frequencies`), and Qwen's M-RoPE (:func:`mrope_frequencies`). 1-D RoPE is
``n = 1``, ``F = inv_freq[None]``. The angles come from :func:`nd_angles` and the
rotation from :func:`refimpl.rope.apply`; the equivalent generator form ``expm(sum_k p_k
A_k)`` lives in :mod:`refimpl.rope.generators`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from refimpl._broadcasting import sum_to_shape
from refimpl._validation import (
    as_float_array,
    as_generator,
    as_int,
    as_scalar,
    broadcast_batch,
    check_last_axis,
    check_ndim,
)
from refimpl.rope.frequencies import inv_freq

__all__ = [
    "nd_angles", "nd_angles_vjp", "frequencies_from_axis_map", "axial_frequencies",
    "axis_interleaved_frequencies", "mixed_frequencies", "mrope_axis_map",
    "mrope_frequencies",
]


def nd_angles(positions: ArrayLike, frequencies: ArrayLike) -> np.ndarray:
    """Angles of N-D RoPE, ``angles = positions @ frequencies``, in float64.

    .. math:: \\varphi_{\\ldots j} = \\sum_{k=0}^{n-1} p_{\\ldots k} F_{\\ldots kj}

    Parameters
    ----------
    positions : array_like, shape (..., n_axes)
        One position vector per token; integer or real, any sign.
    frequencies : array_like, shape (..., n_axes, P)
        The frequency matrix ``F`` (from a builder of this module). Leading axes
        broadcast against ``positions.shape[:-1]`` (e.g. one ``F`` per head, shape
        ``(heads, 1, n_axes, P)`` against positions ``(tokens, n_axes)``).

    Returns
    -------
    ndarray, shape broadcast(positions.shape[:-1], frequencies.shape[:-2]) + (P,)
        Feed it to :func:`refimpl.rope.apply`. For ``n_axes = 1`` the result equals
        :func:`refimpl.rope.angles` bit for bit.

    Examples
    --------
    >>> nd_angles([[1, 2]], [[1.0, 0.0], [0.0, 0.5]])
    array([[1., 1.]])
    """
    positions = as_float_array(positions, "positions")
    frequencies = as_float_array(frequencies, "frequencies")
    check_ndim(frequencies, "frequencies", 2)
    check_last_axis(positions, "positions", size=frequencies.shape[-2])
    broadcast_batch(positions=positions.shape[:-1], frequencies=frequencies.shape[:-2])
    return np.sum(positions[..., :, None] * frequencies, axis=-2)


def nd_angles_vjp(grad: ArrayLike, positions: ArrayLike,
                  frequencies: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of :func:`nd_angles` in ``positions`` and ``frequencies``.

    For a learnable ``F`` (RoPE-Mixed) the second output is the training gradient:

    .. math::

        \\frac{\\partial L}{\\partial F_{kj}} = \\sum_{\\text{tokens}} p_k
        \\frac{\\partial L}{\\partial \\varphi_j}, \\qquad
        \\frac{\\partial L}{\\partial p_k} = \\sum_j F_{kj}
        \\frac{\\partial L}{\\partial \\varphi_j},

    each summed over broadcast axes so it has its argument's shape. ``grad`` is
    ``dL/dangles``, e.g. the second output of :func:`refimpl.rope.apply_vjp`.

    Examples
    --------
    >>> grad_p, grad_f = nd_angles_vjp([[1.0, 2.0]], [[3.0, 4.0]], [[1.0, 0.0], [0.0, 1.0]])
    >>> grad_p, grad_f
    (array([[1., 2.]]), array([[3., 6.],
           [4., 8.]]))
    """
    positions = as_float_array(positions, "positions")
    frequencies = as_float_array(frequencies, "frequencies")
    grad = as_float_array(grad, "grad")
    shape = nd_angles(positions, frequencies).shape
    grad = np.broadcast_to(grad, broadcast_batch(grad=grad.shape, angles=shape))
    grad_positions = np.sum(grad[..., None, :] * frequencies, axis=-1)
    grad_frequencies = positions[..., :, None] * grad[..., None, :]
    return (sum_to_shape(grad_positions, positions.shape),
            sum_to_shape(grad_frequencies, frequencies.shape))


def frequencies_from_axis_map(axis_of_pair: ArrayLike, inv_freq_of_pair: ArrayLike,
                              n_axes: int) -> np.ndarray:
    """``F`` for schemes where each pair follows one axis: ``F[axis[j], j] = omega_j``.

    .. math:: F_{kj} = \\omega_j \\, [\\, k = a_j \\,]

    Axial, axis-interleaved and M-RoPE are all of this form; only the map ``a`` from
    pair to axis and the per-pair frequency ``omega`` differ.

    Parameters
    ----------
    axis_of_pair : array_like of int, shape (P,)
        Axis index in ``[0, n_axes)`` for each pair.
    inv_freq_of_pair : array_like, shape (P,)
        Frequency of each pair.
    n_axes : int
        Number of position axes (rows of ``F``).

    Examples
    --------
    >>> frequencies_from_axis_map([0, 1, 0], [1.0, 0.1, 0.01], 2)
    array([[1.  , 0.  , 0.01],
           [0.  , 0.1 , 0.  ]])
    """
    n_axes = as_int(n_axes, "n_axes", minimum=1)
    axes = np.asarray(axis_of_pair)
    omega = as_float_array(inv_freq_of_pair, "inv_freq_of_pair")
    if axes.ndim != 1 or axes.dtype.kind not in "iu":
        raise TypeError(f"axis_of_pair must be a 1-D integer array, got {axes!r}")
    if omega.shape != axes.shape:
        raise ValueError(f"inv_freq_of_pair must have shape {axes.shape}, got {omega.shape}")
    if axes.size and (axes.min() < 0 or axes.max() >= n_axes):
        raise ValueError(f"axis_of_pair must lie in [0, {n_axes}), got {axes.tolist()}")
    frequencies = np.zeros((n_axes, axes.size))
    frequencies[axes, np.arange(axes.size)] = omega
    return frequencies


def _check_split(rotary_dim: Any, n_axes: Any) -> tuple[int, int]:
    """Validate ``rotary_dim`` as a multiple of ``2 * n_axes``; return both as ints."""
    rotary_dim = as_int(rotary_dim, "rotary_dim", minimum=2)
    n_axes = as_int(n_axes, "n_axes", minimum=1)
    if rotary_dim % (2 * n_axes):
        raise ValueError(f"rotary_dim must be a multiple of 2 * n_axes = {2 * n_axes}, "
                         f"got rotary_dim={rotary_dim}")
    return rotary_dim, n_axes


def axial_frequencies(rotary_dim: int, n_axes: int = 2, base: float = 10000.0) -> np.ndarray:
    """Axial N-D RoPE (the RoPE-2D post): each axis owns ``1/n_axes`` of the head.

    Axis ``k`` drives pairs ``[k m, (k+1) m)`` with ``m = P / n_axes``, each running
    1-D RoPE of width ``D / n_axes``:

    .. math:: F_{k,\\, k m + i} = \\theta_i = \\text{base}^{-2i/(D/n)},
              \\quad i < m, \\quad \\text{zero elsewhere.}

    With ``layout="interleaved"`` axis 0 rotates features ``[0, D/n)``, axis 1 the
    next ``D/n`` and so on: the post's "x in the first half, y in the second"
    (``R_{x,y} = blockdiag(R_x, R_y)``), EVA-02 and timm ``RotaryEmbeddingCat``
    (``in_pixels=False``, positions row first) and lucidrains ``get_axial_freqs``
    ('lang'). With ``layout="half"`` it is the Qwen2-VL / Qwen3-VL vision tower
    (``[h freqs | w freqs]`` duplicated). naver rope-vit axial (``base=100``) and
    Llama-4 vision put the column first: use ``axis_order="xy"`` in
    :mod:`refimpl.rope.grids`. Frequencies follow :func:`refimpl.rope.inv_freq`
    (``1 / base**e``); timm and EVA write the same numbers as ``T^(-4j/D)``.

    Parameters
    ----------
    rotary_dim : int
        Rotary width ``D`` (a multiple of ``2 * n_axes``).
    n_axes : int
        Number of position axes.
    base : float
        RoPE base (10000 in the post, EVA-02, timm; 100 in naver rope-vit axial).

    Returns
    -------
    ndarray, shape (n_axes, rotary_dim // 2)

    Examples
    --------
    >>> axial_frequencies(8, 2)
    array([[1.  , 0.01, 0.  , 0.  ],
           [0.  , 0.  , 1.  , 0.01]])
    """
    rotary_dim, n_axes = _check_split(rotary_dim, n_axes)
    per_axis = inv_freq(rotary_dim // n_axes, base)
    axis_of_pair = np.repeat(np.arange(n_axes), per_axis.size)
    return frequencies_from_axis_map(axis_of_pair, np.tile(per_axis, n_axes), n_axes)


def axis_interleaved_frequencies(rotary_dim: int, n_axes: int = 2,
                                 base: float = 10000.0) -> np.ndarray:
    """Axis-interleaved N-D RoPE (post 17): pair ``j`` follows axis ``j mod n_axes``.

    .. math:: F_{kj} = \\theta_j \\, [\\, j \\bmod n = k \\,], \\qquad
              \\theta_j = \\text{base}^{-2j/D},

    the full 1-D frequency list dealt out to the axes in turn. On the diagonal,
    ``p = (t, ..., t)``, every pair gets the 1-D angle ``t theta_j``, so
    ``R_(t,...,t)`` is exactly 1-D RoPE at position ``t``: text tokens placed on the
    diagonal of a multimodal sequence see ordinary RoPE (kexue.fm/archives/10040).
    Pixtral (mistral-inference) uses the same numbers with the pairs reordered: rows
    take ``theta_0, theta_2, ...`` then columns ``theta_1, theta_3, ...``.

    Parameters
    ----------
    rotary_dim : int
        Rotary width ``D`` (a multiple of ``2 * n_axes``).
    n_axes : int
        Number of position axes.
    base : float
        RoPE base.

    Returns
    -------
    ndarray, shape (n_axes, rotary_dim // 2)

    Examples
    --------
    >>> axis_interleaved_frequencies(8, 2)
    array([[1.   , 0.   , 0.01 , 0.   ],
           [0.   , 0.1  , 0.   , 0.001]])
    """
    rotary_dim, n_axes = _check_split(rotary_dim, n_axes)
    omega = inv_freq(rotary_dim, base)
    return frequencies_from_axis_map(np.arange(omega.size) % n_axes, omega, n_axes)


def mixed_frequencies(rotary_dim: int, n_heads: int = 1, *, temperature: float = 10.0,
                      rng: Any = None) -> np.ndarray:
    """RoPE-Mixed initialisation (Heo et al. 2024): one random direction per head.

    With magnitudes ``mu_i = T^(-4i/D)`` for ``i < D/4`` and an angle
    ``alpha ~ U[0, 2 pi)`` drawn per head, the two rows of ``F`` are

    .. math::

        F_x = [\\mu \\cos\\alpha,\\; \\mu \\cos(\\alpha + \\pi/2)], \\qquad
        F_y = [\\mu \\sin\\alpha,\\; \\mu \\sin(\\alpha + \\pi/2)],

    so pair ``i`` turns along direction ``alpha`` and pair ``D/4 + i`` along the
    perpendicular one. ``F`` is a trained parameter (excluded from weight decay);
    its gradient is the second output of :func:`nd_angles_vjp`. Positions are
    ``(x, y) = (column, row)``: ``index_grid(..., axis_order="xy")``. Layout is
    interleaved in naver-ai/rope-vit (``init_random_2d_freqs``) and timm
    ``RotaryEmbeddingMixed``. Same seed, same draw here; the draws of those
    PyTorch sources (``torch.rand``) are not reproduced.

    Parameters
    ----------
    rotary_dim : int
        Rotary width ``D`` (a multiple of 4).
    n_heads : int
        Number of heads, each with its own ``alpha``.
    temperature : float
        ``T``; 10 in the paper and both sources.
    rng : None, int or numpy.random.Generator
        Source of the angles.

    Returns
    -------
    ndarray, shape (n_heads, 2, rotary_dim // 2)
        ``F`` per head; rows ``(F_x, F_y)``.

    Examples
    --------
    >>> F = mixed_frequencies(8, 3, rng=0)
    >>> F.shape
    (3, 2, 4)
    >>> np.allclose(np.hypot(F[:, 0], F[:, 1]), [1.0, 10 ** -0.5, 1.0, 10 ** -0.5])
    True
    """
    rotary_dim, _ = _check_split(rotary_dim, 2)
    n_heads = as_int(n_heads, "n_heads", minimum=1)
    temperature = as_scalar(temperature, "temperature", positive=True)
    alpha = as_generator(rng).uniform(0.0, 2 * np.pi, size=(n_heads, 1))
    magnitude = 1.0 / temperature ** (np.arange(0, rotary_dim, 4) / rotary_dim)
    f_x = np.concatenate([magnitude * np.cos(alpha), magnitude * np.cos(alpha + np.pi / 2)], -1)
    f_y = np.concatenate([magnitude * np.sin(alpha), magnitude * np.sin(alpha + np.pi / 2)], -1)
    return np.stack([f_x, f_y], axis=1)


def mrope_axis_map(sections: Sequence[int], *, interleaved: bool = False,
                   n_slots: int | None = None) -> np.ndarray:
    """Which position axis (t, h, w, ...) drives each frequency slot in M-RoPE.

    * Chunked (Qwen2-VL, Qwen2.5-VL, GLM-4V): slot ``j`` belongs to the section it
      falls in; ``sections=[16, 24, 24]`` gives slots ``[0,16)`` to t, ``[16,40)`` to h,
      ``[40,64)`` to w, so time gets the highest frequencies. The sections must tile
      the slots (Hugging Face splits the frequencies with ``torch.split``).
    * Interleaved (Qwen3-VL, timm ``RotaryEmbeddingMRope``): slot ``j`` goes to axis
      ``i >= 1`` when ``j mod n = i`` and ``j < n * sections[i]``, and to axis 0
      otherwise: t, h, w, t, h, w, ... For ``[24, 20, 20]`` that is 24/20/20 slots
      (the last four all t); other sections give other counts, exactly as the
      Hugging Face code does. Here the sections need not sum to the number of slots:
      timm 1.0.31 and transformers 5.23.0 accept e.g. head 72 (36 slots) with
      ``(8, 12, 12)``, giving 12/12/12.

    Parameters
    ----------
    sections : sequence of int
        Slots per axis (``mrope_section``).
    interleaved : bool
        Qwen3-VL's strided map instead of Qwen2-VL's chunks.
    n_slots : int, optional
        Number of frequency slots ``P`` (default ``sum(sections)``); chunked maps need
        ``sum(sections) == n_slots``.

    Returns
    -------
    ndarray of int, shape (n_slots,)

    Examples
    --------
    >>> mrope_axis_map([2, 1, 1])
    array([0, 0, 1, 2])
    >>> mrope_axis_map([3, 2, 2], interleaved=True)
    array([0, 1, 2, 0, 1, 2, 0])
    >>> mrope_axis_map([1, 1, 1], interleaved=True, n_slots=5)
    array([0, 1, 2, 0, 0])
    """
    if isinstance(sections, (str, bytes)) or not hasattr(sections, "__len__"):
        raise TypeError(f"sections must be a sequence of integers, got {sections!r}")
    counts = [as_int(s, "sections", minimum=0) for s in sections]
    if not counts or sum(counts) == 0:
        raise ValueError(f"sections must hold at least one positive count, got {sections!r}")
    total = sum(counts) if n_slots is None else as_int(n_slots, "n_slots", minimum=1)
    n_axes, slots = len(counts), np.arange(total)
    if not interleaved:
        if sum(counts) != total:
            raise ValueError(f"chunked M-RoPE sections must sum to the {total} frequency "
                             f"slots (rotary_dim / 2), got sections={list(counts)} (sum "
                             f"{sum(counts)}); only interleaved=True accepts other sums")
        return np.repeat(np.arange(n_axes), counts)
    axis = np.zeros(slots.size, dtype=np.int64)
    for i in range(1, n_axes):
        axis[(slots % n_axes == i) & (slots < n_axes * counts[i])] = i
    return axis


def mrope_frequencies(rotary_dim: int, sections: Sequence[int], *, base: float = 10000.0,
                      interleaved: bool = False) -> np.ndarray:
    """M-RoPE frequency matrix over (t, h, w) position ids (Qwen2-VL / Qwen3-VL).

    .. math:: F_{kj} = \\theta_j \\, [\\, a_j = k \\,], \\qquad \\theta_j = \\text{base}^{-2j/D},

    with the slot-to-axis map ``a`` of :func:`mrope_axis_map`. Text tokens carry
    ``t = h = w``, where M-RoPE is exactly 1-D RoPE. Qwen models use
    ``layout="half"`` and ``base=1e6`` (Qwen2-VL language model), sections
    ``[16, 24, 24]`` (Qwen2-VL, chunked) or ``[24, 20, 20]`` (Qwen3-VL, interleaved);
    GLM-4V uses the chunked map with ``layout="interleaved"``. The position ids
    themselves (``get_rope_index``) are a model's business and are not built here.

    Parameters
    ----------
    rotary_dim : int
        Rotary width ``D``; ``sum(sections)`` must be ``D / 2`` for the chunked map
        (the interleaved map accepts other sums, as timm and Hugging Face do).
    sections : sequence of int
        Frequency slots per axis (``mrope_section``).
    base : float
        RoPE base.
    interleaved : bool
        Qwen3-VL's interleaved assignment instead of Qwen2-VL's chunks.

    Returns
    -------
    ndarray, shape (len(sections), rotary_dim // 2)

    Examples
    --------
    >>> mrope_frequencies(8, [2, 1, 1])
    array([[1.   , 0.1  , 0.   , 0.   ],
           [0.   , 0.   , 0.01 , 0.   ],
           [0.   , 0.   , 0.   , 0.001]])
    """
    omega = inv_freq(rotary_dim, base)
    axis = mrope_axis_map(sections, interleaved=interleaved, n_slots=omega.size)
    return frequencies_from_axis_map(axis, omega, len(sections))
