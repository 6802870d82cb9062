"""RoPE frequencies: the default ``omega_k = base^(-2k/d)`` and the context-extension schedules.

Pair ``k`` of a rotary block of width ``d`` turns by ``p * omega_k`` at position ``p``.
The default frequencies fall geometrically from 1 to about ``1/base``; the
context-extension schedules of Hugging Face's ``ROPE_INIT_FUNCTIONS`` (linear, dynamic
NTK, YaRN, LongRoPE, Llama 3) rescale them so a model trained on ``L0`` positions can
read longer inputs. Each schedule returns ``(inv_freq, attention_factor)``; the
attention factor multiplies cos and sin (``magnitude`` in :func:`refimpl.rope.apply`).
"""

from __future__ import annotations

import numpy as np

from refimpl._validation import as_int, as_scalar


def _rotary_dim(rotary_dim) -> int:
    """Check that the rotary width is a positive even integer."""
    rotary_dim = as_int(rotary_dim, "rotary_dim", minimum=2)
    if rotary_dim % 2:
        raise ValueError(f"rotary dimension must be even, got rotary_dim={rotary_dim}")
    return rotary_dim


def inv_freq(rotary_dim: int, base: float = 10000.0) -> np.ndarray:
    """Default RoPE inverse frequencies ``omega_k = 1 / base^(2k / rotary_dim)``.

    .. math:: \\omega_k = \\frac{1}{b^{2k/d}}, \\qquad k = 0, \\dots, d/2 - 1

    RoFormer (kexue.fm/archives/8265) and Hugging Face ``default``. Computed as
    ``1 / base**(2k/d)``, the form Hugging Face, Meta, GPT-NeoX, lucidrains and
    torchtune use; ``base**(-2k/d)`` or ``exp(-2k ln(b)/d)`` differ by an ulp in many
    entries (rope_anchors.md §9).

    Parameters
    ----------
    rotary_dim : int
        Width ``d`` of the rotary block (``R`` for partial rotary), even, >= 2.
    base : float
        ``rope_theta``, greater than 1.

    Returns
    -------
    ndarray, shape (rotary_dim // 2,)
        Positive, strictly decreasing, ``omega_0 = 1``.

    Examples
    --------
    >>> inv_freq(8)
    array([1.   , 0.1  , 0.01 , 0.001])
    """
    rotary_dim = _rotary_dim(rotary_dim)
    base = as_scalar(base, "base", greater_than=1.0)
    exponents = np.arange(0, rotary_dim, 2, dtype=np.float64) / rotary_dim
    return 1.0 / base**exponents
