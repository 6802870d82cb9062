"""RoPE frequencies: the default ``omega_k = base^(-2k/d)`` and the context-extension schedules.

Pair ``k`` of a rotary block of width ``d`` turns by ``p * omega_k`` at position ``p``.
The default frequencies fall geometrically from 1 to about ``1/base``; the
context-extension schedules of Hugging Face's ``ROPE_INIT_FUNCTIONS`` (linear, dynamic
NTK, YaRN, LongRoPE, Llama 3, proportional; transformers 5.23.0
``modeling_rope_utils.py``) rescale them so a model trained on ``L0`` positions can
read longer inputs. Each schedule returns ``(inv_freq, attention_factor)``; the
attention factor multiplies cos and sin (``magnitude`` in :func:`refimpl.rope.apply`).

The schedules follow Hugging Face's arithmetic, including its reading of an odd width
``d`` (``int(head_dim * partial_rotary_factor) = 19``): ``ceil(d/2)`` frequencies
``1/b^(2k/d)``, which rotate ``d + 1`` features (see ``docs/rope_hf.md``). The textbook
:func:`inv_freq` keeps to even widths.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from refimpl._validation import as_float_array, as_int, as_scalar, check_choice


def _rotary_dim(rotary_dim: Any) -> int:
    """Check that the rotary width is a positive even integer."""
    rotary_dim = as_int(rotary_dim, "rotary_dim", minimum=2)
    if rotary_dim % 2:
        raise ValueError(f"rotary dimension must be even, got rotary_dim={rotary_dim}")
    return rotary_dim


def _hf_width(rotary_dim: Any) -> int:
    """A Hugging Face rotary width: an integer >= 2, odd allowed (HF rounds it up)."""
    return as_int(rotary_dim, "rotary_dim", minimum=2)


def _frequencies(width: int, base: float) -> np.ndarray:
    """``1 / base**(2k / width)`` for ``2k < width``: ``ceil(width / 2)`` entries, as
    Hugging Face's ``torch.arange(0, dim, 2) / dim`` writes it."""
    return 1.0 / base ** (np.arange(0, width, 2, dtype=np.float64) / width)


def inv_freq(rotary_dim: int, base: float = 10000.0) -> np.ndarray:
    """Default RoPE inverse frequencies ``omega_k = 1 / base^(2k / rotary_dim)``.

    .. math:: \\omega_k = \\frac{1}{b^{2k/d}}, \\qquad k = 0, \\dots, d/2 - 1

    RoFormer (kexue.fm/archives/8265) and Hugging Face ``default``. Computed as
    ``1 / base**(2k/d)``, the form Hugging Face, Meta, GPT-NeoX, lucidrains and
    torchtune use; ``base**(-2k/d)`` or ``exp(-2k ln(b)/d)`` differ by an ulp in many
    entries (for ``d = 128``: about a third of them against ``base**(-2k/d)``).

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
    return _frequencies(rotary_dim, as_scalar(base, "base", greater_than=1.0))


def _hf_inv_freq(rotary_dim: Any, base: Any) -> np.ndarray:
    """:func:`inv_freq` with Hugging Face's odd widths allowed (``ceil(d/2)`` entries)."""
    return _frequencies(_hf_width(rotary_dim), as_scalar(base, "base", greater_than=1.0))


def ntk_base(base: float, factor: float, rotary_dim: int) -> float:
    """Static NTK-aware base rescaling ``base * factor^(d / (d - 2))``.

    .. math:: b' = b \\, s^{d/(d-2)}

    Chosen so the slowest pair, ``k = d/2 - 1``, turns ``s`` times slower while the
    fastest (``k = 0``) is unchanged: ``b'^(-(d-2)/d) = b^(-(d-2)/d) / s``. This is
    lucidrains' ``theta_rescale_factor`` (rotary-embedding-torch 0.9.1) and the base of
    Hugging Face's ``dynamic`` schedule with ``s`` replaced by
    ``factor * L / max_pos - (factor - 1)``.

    Parameters
    ----------
    base : float
        ``rope_theta``, greater than 1.
    factor : float
        Scale ``s >= 1``.
    rotary_dim : int
        Even, at least 4 (``d = 2`` makes the exponent infinite).

    Examples
    --------
    >>> round(ntk_base(10000.0, 3.0, 128), 7)
    30527.7367488
    """
    rotary_dim = _rotary_dim(rotary_dim)
    if rotary_dim < 4:
        raise ValueError(f"NTK rescaling needs rotary_dim >= 4 (exponent d/(d-2)), "
                         f"got rotary_dim={rotary_dim}")
    base = as_scalar(base, "base", greater_than=1.0)
    return _ntk_base(base, _factor(factor), rotary_dim)


def _ntk_base(base: float, factor: float, width: int) -> float:
    """``base * factor**(width / (width - 2))`` without checks (width >= 3)."""
    return base * factor ** (width / (width - 2))


def _factor(factor: Any, name: str = "factor", rope_type: str = "") -> float:
    """A context-extension factor: a real number >= 1 (Hugging Face's config check)."""
    factor = as_scalar(factor, name)
    if factor < 1.0:
        hint = (" (only rope_type='linear' accepts 0 < factor < 1; see docs/rope_hf.md)"
                if rope_type else "")
        raise ValueError(f"{name} must be >= 1, got {name}={factor}{hint}")
    return factor


def default_inv_freq(rotary_dim: int, base: float = 10000.0) -> tuple[np.ndarray, float]:
    """Hugging Face ``default``: ``(inv_freq(rotary_dim, base), 1.0)``.

    An odd ``rotary_dim`` gives Hugging Face's ``ceil(d/2)`` frequencies ``1/b^(2k/d)``.

    Examples
    --------
    >>> default_inv_freq(4)
    (array([1.  , 0.01]), 1.0)
    """
    return _hf_inv_freq(rotary_dim, base), 1.0


def linear_inv_freq(rotary_dim: int, base: float = 10000.0, *, factor: float
                    ) -> tuple[np.ndarray, float]:
    """Hugging Face ``linear`` (position interpolation): ``omega_k / factor``.

    .. math:: \\omega_k' = \\frac{1}{b^{2k/d}} \\Big/ s, \\qquad \\text{attention factor } 1

    Position interpolation is Chen et al., "Extending Context Window of Large Language
    Models via Positional Interpolation" (2023, arXiv:2306.15595). ``0 < factor < 1`` is
    accepted, as Hugging Face computes it after a warning: the positions are then
    stretched instead of compressed, a well-defined RoPE (docs/rope_hf.md).

    Source: transformers 5.23.0 ``_compute_linear_scaling_rope_parameters``.
    Disagreements: Hugging Face 4.38, lucidrains (``interpolate_factor``) and keras-hub
    divide the *positions* by ``factor`` instead, ``(p / s) omega`` rather than
    ``p (omega / s)``: equal in exact arithmetic, an ulp apart in float64; Gemma JAX
    divides the angle.

    Returns
    -------
    (inv_freq, attention_factor) : (ndarray of shape (ceil(rotary_dim / 2),), float)

    Examples
    --------
    >>> linear_inv_freq(4, factor=4.0)
    (array([0.25 , 0.0025]), 1.0)
    """
    omega = _hf_inv_freq(rotary_dim, base)
    return omega / as_scalar(factor, "factor", positive=True), 1.0


def dynamic_inv_freq(rotary_dim: int, base: float = 10000.0, *, factor: float,
                     max_position_embeddings: int, seq_len: int | None = None
                     ) -> tuple[np.ndarray, float]:
    """Hugging Face ``dynamic`` (dynamic NTK): the default frequencies with a base that grows
    once ``seq_len`` passes ``max_position_embeddings``.

    .. math::

        L = \\max(\\text{seq\\_len}, L_{max}), \\qquad
        b' = b \\left(\\frac{s L}{L_{max}} - (s - 1)\\right)^{d/(d-2)}, \\qquad
        \\omega_k' = \\frac{1}{b'^{2k/d}}

    with attention factor 1. At ``seq_len <= max_position_embeddings`` this is the
    default schedule exactly (Hugging Face restores ``original_inv_freq`` there; the
    formula itself would give ``b' = b`` only up to the rounding of ``s - (s - 1)``).
    ``seq_len=None`` is Hugging Face's initialisation, ``L = L_max``: the default
    frequencies. Which ``seq_len`` a generation step uses is a rule with memory,
    :func:`refimpl.rope.hf.dynamic_seq_lens`.

    ``seq_len`` is the number of positions, ``max(position_ids) + 1`` in Hugging Face's
    ``dynamic_rope_update``, not the last index. Source: transformers 5.23.0
    ``_compute_dynamic_ntk_parameters``. Disagreements: keys cached before the base
    changed keep their old rotation (transformers #25104); vLLM's "dynamic" is in effect
    static at ``max_len * factor`` (vllm #3488, #5093);
    ``original_max_position_embeddings`` is ignored by Hugging Face.

    Examples
    --------
    >>> omega, scale = dynamic_inv_freq(128, factor=2.0, max_position_embeddings=4096,
    ...                                 seq_len=8192)
    >>> float(omega[63]), scale
    (3.849273282298...e-05, 1.0)
    """
    width = _hf_width(rotary_dim)
    length = as_int(max_position_embeddings, "max_position_embeddings", minimum=1)
    seq_len = length if seq_len is None else as_int(seq_len, "seq_len", minimum=1)
    factor = _factor(factor, rope_type="dynamic")
    if width < 3:
        raise ValueError(f"dynamic NTK needs rotary_dim >= 3 (exponent d/(d-2)), "
                         f"got rotary_dim={width}")
    if seq_len <= length:  # s L / L_max - (s - 1) = 1 up to rounding: return it exactly
        return _hf_inv_freq(width, base), 1.0
    scale = factor * seq_len / length - (factor - 1.0)
    base = as_scalar(base, "base", greater_than=1.0)
    return _frequencies(width, _ntk_base(base, scale, width)), 1.0


def yarn_mscale(scale: float, mscale: float = 1.0) -> float:
    """YaRN's magnitude ``g(s, m) = 0.1 m ln s + 1`` for ``s > 1``, else 1.

    .. math:: g(s, m) = \\begin{cases} 1 & s \\le 1 \\\\ 0.1\\, m \\ln s + 1 & s > 1 \\end{cases}

    Source: transformers ``get_mscale`` inside ``_compute_yarn_parameters``; DeepSeek-V3
    multiplies its softmax scale by ``g(s, mscale)^2``.

    Examples
    --------
    >>> round(yarn_mscale(40.0) ** 2, 12)
    1.873854207093
    """
    scale = as_scalar(scale, "scale", positive=True)
    mscale = as_scalar(mscale, "mscale")
    return 1.0 if scale <= 1.0 else 0.1 * mscale * float(np.log(scale)) + 1.0


def yarn_correction_range(rotary_dim: int, base: float, original_max_position_embeddings: int,
                          *, beta_fast: float = 32.0, beta_slow: float = 1.0,
                          truncate: bool = True) -> tuple[float, float]:
    """The pair-index range ``(lo, hi)`` over which YaRN ramps from extrapolation to interpolation.

    .. math::

        d(\\beta) = \\frac{d \\, \\ln\\!\\big(L_0 / (2\\pi\\beta)\\big)}{2 \\ln b}, \\qquad
        lo = \\max(\\lfloor d(\\beta_{fast}) \\rfloor, 0), \\quad
        hi = \\min(\\lceil d(\\beta_{slow}) \\rceil, d - 1)

    ``d(beta)`` is the pair index whose wavelength fits ``beta`` times into ``L0``. The
    floor and ceiling apply only when ``truncate`` (gpt-oss sets it False; vllm #27722).
    The upper clamp is ``d - 1``, not ``d/2 - 1``, as in Hugging Face.

    ``beta_fast < beta_slow`` is refused: it puts ``lo`` above ``hi``, so the ramp runs
    backwards and YaRN would interpolate the fast pairs and keep the slow ones, the
    opposite of the method (Peng et al., "YaRN", 2023, arXiv:2309.00071); Hugging Face
    5.23.0 only warns. ``beta_fast == beta_slow`` is accepted (a step, with Hugging
    Face's ``hi += 0.001`` guard in :func:`yarn_inv_freq`).

    Examples
    --------
    >>> lo, hi = yarn_correction_range(64, 150000.0, 4096, truncate=False)
    >>> round(lo, 4), round(hi, 4)
    (8.0928, 17.398)
    """
    rotary_dim = _rotary_dim(rotary_dim)
    base = as_scalar(base, "base", greater_than=1.0)
    length = as_int(original_max_position_embeddings, "original_max_position_embeddings",
                    minimum=1)
    beta_slow = as_scalar(beta_slow, "beta_slow", positive=True)
    beta_fast = as_scalar(beta_fast, "beta_fast", positive=True)
    if beta_fast < beta_slow:
        raise ValueError(f"YaRN needs beta_fast >= beta_slow, got beta_fast={beta_fast:g} < "
                         f"beta_slow={beta_slow:g}: the ramp would run backwards, "
                         "interpolating the fast pairs and keeping the slow ones (were they "
                         "swapped? the defaults are beta_fast=32, beta_slow=1)")
    if not isinstance(truncate, (bool, np.bool_)):
        raise TypeError(f"truncate must be True or False, got {truncate!r}")

    def correction_dim(rotations: float) -> float:
        return rotary_dim * np.log(length / (rotations * 2.0 * np.pi)) / (2.0 * np.log(base))

    lo, hi = correction_dim(beta_fast), correction_dim(beta_slow)
    if truncate:
        lo, hi = np.floor(lo), np.ceil(hi)
    return float(max(lo, 0.0)), float(min(hi, rotary_dim - 1.0))


def yarn_inv_freq(rotary_dim: int, base: float = 10000.0, *,
                  original_max_position_embeddings: int, factor: float | None = None,
                  max_position_embeddings: int | None = None, beta_fast: float = 32.0,
                  beta_slow: float = 1.0, mscale: float | None = None,
                  mscale_all_dim: float | None = None, attention_factor: float | None = None,
                  truncate: bool = True) -> tuple[np.ndarray, float]:
    """Hugging Face ``yarn``: keep the fast pairs, divide the slow ones by ``factor``, ramp between.

    .. math::

        r_k = \\mathrm{clip}\\!\\left(\\frac{k - lo}{hi - lo}, 0, 1\\right), \\qquad
        \\omega_k' = \\frac{r_k}{s\\, b^{2k/d}} + \\frac{1 - r_k}{b^{2k/d}}

    with ``(lo, hi)`` from :func:`yarn_correction_range` (``hi += 0.001`` when they
    coincide). Attention factor: ``attention_factor`` if given; else
    ``g(s, mscale) / g(s, mscale_all_dim)`` if both are non-zero; else ``g(s, 1)``
    (:func:`yarn_mscale`). ``factor=None`` means ``max_position_embeddings / L0``.

    Source: transformers 5.23.0 ``_compute_yarn_parameters``, after Peng et al.,
    "YaRN: Efficient Context Window Extension of Large Language Models" (2023,
    arXiv:2309.00071). An odd ``rotary_dim`` is refused (Hugging Face's own code fails
    on it). Disagreements: an intermediate
    transformers release replaced ``factor`` by ``max_pos / L0`` (#38224, fixed in
    #40320); Hugging Face 5.x fills a missing ``L0`` with ``max_position_embeddings``
    (here it is required); vLLM ignored an explicit ``attention_factor`` (#46280) and
    ``mscale`` (#48621); ``mscale = mscale_all_dim = 1`` gives factor 1.0 in Hugging
    Face while DeepSeek puts ``g^2`` into its softmax scale; ``truncate=False`` (gpt-oss)
    was ignored by vLLM (#27722); DeepSeek's own code applies YaRN only when the
    sequence exceeds ``L0``, Hugging Face always. The ramp is linear in the pair index.

    Returns
    -------
    (inv_freq, attention_factor) : (ndarray of shape (rotary_dim // 2,), float)

    Examples
    --------
    >>> omega, scale = yarn_inv_freq(64, 150000.0, factor=32.0,
    ...                              original_max_position_embeddings=4096, truncate=False)
    >>> round(scale, 12)
    1.34657359028
    """
    rotary_dim = as_int(rotary_dim, "rotary_dim", minimum=2)
    if rotary_dim % 2:
        raise ValueError(f"yarn needs an even rotary_dim, got rotary_dim={rotary_dim}: Hugging "
                         f"Face's ramp has {rotary_dim // 2} entries for its "
                         f"{(rotary_dim + 1) // 2} frequencies and fails to broadcast, so no "
                         "formula exists to follow")
    base = as_scalar(base, "base", greater_than=1.0)
    length = as_int(original_max_position_embeddings, "original_max_position_embeddings",
                    minimum=1)
    if factor is None:
        if max_position_embeddings is None:
            raise ValueError("yarn needs factor, or max_position_embeddings to derive it "
                             "as max_position_embeddings / original_max_position_embeddings")
        factor = as_int(max_position_embeddings, "max_position_embeddings", minimum=1) / length
    factor = _factor(factor, rope_type="yarn")
    if attention_factor is not None:
        attention_factor = as_scalar(attention_factor, "attention_factor", positive=True)
    elif mscale and mscale_all_dim:
        attention_factor = yarn_mscale(factor, mscale) / yarn_mscale(factor, mscale_all_dim)
    else:
        attention_factor = yarn_mscale(factor)
    lo, hi = yarn_correction_range(rotary_dim, base, length, beta_fast=beta_fast,
                                   beta_slow=beta_slow, truncate=truncate)
    if lo == hi:
        hi += 0.001
    ramp = np.clip((np.arange(rotary_dim // 2) - lo) / (hi - lo), 0.0, 1.0)
    keep = 1.0 - ramp  # Hugging Face's inv_freq_extrapolation_factor, same rounding
    wavelength_scale = base ** (np.arange(0, rotary_dim, 2, dtype=np.float64) / rotary_dim)
    extrapolation = 1.0 / wavelength_scale
    interpolation = 1.0 / (factor * wavelength_scale)
    return interpolation * (1.0 - keep) + extrapolation * keep, float(attention_factor)


def longrope_inv_freq(rotary_dim: int, base: float = 10000.0, *, short_factor: ArrayLike,
                      long_factor: ArrayLike,
                      original_max_position_embeddings: int, seq_len: int | None = None,
                      factor: float | None = None, max_position_embeddings: int | None = None,
                      attention_factor: float | None = None) -> tuple[np.ndarray, float]:
    """Hugging Face ``longrope`` (Phi-3): per-pair rescaling, short or long set by length.

    .. math::

        \\omega_k' = \\frac{1}{e_k \\, b^{2k/d}}, \\qquad
        e = \\begin{cases} \\text{long\\_factor} & \\text{seq\\_len} > L_0 \\\\
                           \\text{short\\_factor} & \\text{otherwise} \\end{cases}

    ``seq_len=None`` is Hugging Face's initialisation: the short factors. Which set a
    generation step uses is :func:`refimpl.rope.hf.longrope_factor_choices`.

    Attention factor: ``attention_factor`` if given, else 1 when ``s <= 1``, else
    ``sqrt(1 + ln s / ln L0)``, where ``s = factor`` or, when ``factor`` is None,
    ``max_position_embeddings / L0``.

    Source: transformers 5.23.0 ``_compute_longrope_parameters`` and
    ``longrope_frequency_update`` (``seq_len = max(position_ids) + 1``), after Ding et
    al., "LongRoPE" (2024, arXiv:2402.13753). Disagreements: switching from the short
    to the long set invalidates keys cached with the short set (transformers #33129,
    llama.cpp #8995);
    some ports used offsets instead of positions (llama.cpp #6849); Hugging Face 4.4x
    replaced ``factor`` by ``max_position_embeddings / L0`` whenever the config had
    ``original_max_position_embeddings``, and at initialisation chose the long factors
    whenever ``max_position_embeddings > L0``. Frequencies are non-increasing whenever
    the chosen factors are non-decreasing.

    Parameters
    ----------
    short_factor, long_factor : array_like, shape (ceil(rotary_dim / 2),)
        Positive per-pair divisors.

    Examples
    --------
    >>> omega, scale = longrope_inv_freq(4, short_factor=[1.0, 1.0], long_factor=[1.0, 2.0],
    ...     original_max_position_embeddings=4096, seq_len=8192,
    ...     max_position_embeddings=131072)
    >>> omega, round(scale, 12)
    (array([1.   , 0.005]), 1.190238071424)
    """
    omega = _hf_inv_freq(rotary_dim, base)
    length = as_int(original_max_position_embeddings, "original_max_position_embeddings",
                    minimum=1)
    long = seq_len is not None and as_int(seq_len, "seq_len", minimum=1) > length
    name = "long_factor" if long else "short_factor"
    chosen = as_float_array(long_factor if long else short_factor, name)
    if chosen.shape != omega.shape or np.any(chosen <= 0):
        raise ValueError(f"{name} must hold {omega.size} positive values (one per pair), "
                         f"got {chosen.tolist()}")
    if factor is None:
        if max_position_embeddings is None:
            raise ValueError("longrope needs factor, or max_position_embeddings to derive it "
                             "as max_position_embeddings / original_max_position_embeddings")
        factor = as_int(max_position_embeddings, "max_position_embeddings", minimum=1) / length
    factor = as_scalar(factor, "factor", positive=True)
    if attention_factor is not None:
        attention_factor = as_scalar(attention_factor, "attention_factor", positive=True)
    elif factor <= 1.0:
        attention_factor = 1.0
    else:
        attention_factor = float(np.sqrt(1.0 + np.log(factor) / np.log(length)))
    width = _hf_width(rotary_dim)
    exponents = np.arange(0, width, 2, dtype=np.float64) / width
    return 1.0 / (chosen * float(base) ** exponents), attention_factor


def llama3_inv_freq(rotary_dim: int, base: float = 10000.0, *, factor: float,
                    low_freq_factor: float, high_freq_factor: float,
                    original_max_position_embeddings: int) -> tuple[np.ndarray, float]:
    """Hugging Face / Meta ``llama3``: keep short wavelengths, divide long ones, blend between.

    With wavelength ``lambda_k = 2 pi / omega_k``, ``lambda_high = L0 / high_freq_factor``
    and ``lambda_low = L0 / low_freq_factor``:

    .. math::

        \\omega_k' = \\begin{cases}
            \\omega_k & \\lambda_k < \\lambda_{high} \\\\
            \\omega_k / s & \\lambda_k > \\lambda_{low} \\\\
            (1 - t_k)\\, \\omega_k / s + t_k\\, \\omega_k,\\;
            t_k = \\frac{L_0/\\lambda_k - \\text{lff}}{\\text{hff} - \\text{lff}}
            & \\text{otherwise}
        \\end{cases}

    The middle band includes both ends. Attention factor 1.

    Source: transformers 5.23.0 ``_compute_llama3_parameters``, identical band logic to
    Meta's ``apply_scaling`` (meta-llama/llama-models ``models/llama3/reference_impl/
    model.py``). Disagreements: Meta's reference code and MaxText hard-code factor 8
    (Llama 3.2 configs use 32);
    the first Hugging Face version returned unscaled frequencies (PR #32330).

    Examples
    --------
    >>> omega, _ = llama3_inv_freq(128, 500000.0, factor=8.0, low_freq_factor=1.0,
    ...     high_freq_factor=4.0, original_max_position_embeddings=8192)
    >>> float(omega[20])
    0.01656044008099...
    """
    omega = _hf_inv_freq(rotary_dim, base)
    factor = _factor(factor, rope_type="llama3")
    low = as_scalar(low_freq_factor, "low_freq_factor", positive=True)
    high = as_scalar(high_freq_factor, "high_freq_factor", greater_than=low)
    length = as_int(original_max_position_embeddings, "original_max_position_embeddings",
                    minimum=1)
    wavelength = 2.0 * np.pi / omega
    scaled = np.where(wavelength > length / low, omega / factor, omega)
    smooth = (length / wavelength - low) / (high - low)
    smoothed = (1.0 - smooth) * scaled / factor + smooth * scaled
    medium = ~(wavelength < length / high) & ~(wavelength > length / low)
    return np.where(medium, smoothed, scaled), 1.0


def proportional_inv_freq(head_dim: int, base: float = 10000.0, *,
                          partial_rotary_factor: float = 1.0, factor: float = 1.0
                          ) -> tuple[np.ndarray, float]:
    """Hugging Face ``proportional``: the full head's frequencies, the slowest ones set to 0.

    With ``D = head_dim`` and ``R = floor(partial_rotary_factor * D / 2)`` rotated pairs:

    .. math::

        \\omega_k' = \\begin{cases} \\dfrac{1}{s\\, b^{2k/D}} & k < R \\\\
                                0 & R \\le k < D/2 \\end{cases}

    Unlike ``partial_rotary_factor`` in the other types, the exponent's denominator is
    the whole head ``D`` and the result always has ``D/2`` entries: the pairs past ``R``
    turn by angle 0, i.e. pass through. Apply it to all ``D`` features. Attention
    factor 1. Source: transformers 5.23.0 ``_compute_proportional_rope_parameters``
    (``rope_angles = int(partial_rotary_factor * head_dim // 2)``).

    Examples
    --------
    >>> proportional_inv_freq(8, partial_rotary_factor=0.5)
    (array([1. , 0.1, 0. , 0. ]), 1.0)
    """
    head_dim = _rotary_dim(head_dim)
    share = as_scalar(partial_rotary_factor, "partial_rotary_factor", nonnegative=True)
    if share > 1.0:
        raise ValueError(f"partial_rotary_factor must lie in [0, 1], got {share}")
    rotated = int(share * head_dim // 2)
    omega = np.zeros(head_dim // 2)
    omega[:rotated] = _frequencies(head_dim, as_scalar(base, "base", greater_than=1.0))[:rotated]
    return omega / as_scalar(factor, "factor", positive=True), 1.0


#: Hugging Face ``rope_type`` -> the function computing ``(inv_freq, attention_factor)``.
ROPE_TYPES: dict[str, Callable[..., tuple[np.ndarray, float]]] = {
    "default": default_inv_freq,
    "linear": linear_inv_freq,
    "dynamic": dynamic_inv_freq,
    "yarn": yarn_inv_freq,
    "longrope": longrope_inv_freq,
    "llama3": llama3_inv_freq,
    "proportional": proportional_inv_freq,
}

#: What an unknown parameter of :func:`scaled_inv_freq` most likely meant.
_PARAMETER_HINTS = {
    "rope_theta": "rope_theta is Hugging Face's name for base: pass base=rope_theta",
    "partial_rotary_factor": "pass rotary_dim=int(head_dim * partial_rotary_factor)",
    "rope_type": "rope_type is the first argument",
    "type": "'type' is Hugging Face 4.x's name for rope_type, the first argument",
    "mrope_section": "M-RoPE sections choose the axes, not the frequencies: "
                     "see refimpl.rope.nd.mrope_frequencies",
}


def _check_parameters(rope_type: str, parameters: dict[str, Any]) -> None:
    """Raise ``TypeError`` from :func:`scaled_inv_freq` for a missing or unknown key."""
    signature = inspect.signature(ROPE_TYPES[rope_type]).parameters.values()
    accepted = [p.name for p in signature if p.kind is p.KEYWORD_ONLY]
    required = [p.name for p in signature if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    unknown = [key for key in parameters if key not in accepted]
    if unknown:
        hints = "; ".join(_PARAMETER_HINTS[key] for key in unknown if key in _PARAMETER_HINTS)
        raise TypeError(f"scaled_inv_freq({rope_type!r}) got unknown parameter(s) "
                        f"{', '.join(map(repr, unknown))}; it takes "
                        f"{', '.join(accepted) or 'none'}"
                        + (f" ({hints}; or build everything from the config with "
                           "rope.from_hf_config(config))" if hints else ""))
    missing = [key for key in required if key not in parameters]
    if missing:
        raise TypeError(f"scaled_inv_freq({rope_type!r}) needs keyword parameter(s) "
                        f"{', '.join(missing)}; it takes {', '.join(accepted)}")


def scaled_inv_freq(rope_type: str, rotary_dim: int, base: float = 10000.0,
                    **parameters: Any) -> tuple[np.ndarray, float]:
    """``(inv_freq, attention_factor)`` for a Hugging Face ``rope_type`` (``ROPE_INIT_FUNCTIONS``).

    ``parameters`` are the keys of Hugging Face's ``rope_parameters`` (``rope_scaling``
    in 4.x) with their names and meanings, plus the explicit ``seq_len`` that
    ``dynamic`` and ``longrope`` read from ``position_ids`` (``max + 1``; None, the
    default, is Hugging Face's initialisation):

    ============  ===========================================================
    rope_type     parameters (required first)
    ============  ===========================================================
    default       none
    linear        factor
    dynamic       factor, max_position_embeddings; seq_len
    yarn          original_max_position_embeddings; factor,
                  max_position_embeddings, beta_fast, beta_slow, mscale,
                  mscale_all_dim, attention_factor, truncate
    longrope      short_factor, long_factor, original_max_position_embeddings;
                  seq_len, factor, max_position_embeddings, attention_factor
    llama3        factor, low_freq_factor, high_freq_factor,
                  original_max_position_embeddings
    proportional  none; partial_rotary_factor, factor
    ============  ===========================================================

    ``rotary_dim`` is Hugging Face's ``dim = int(head_dim * partial_rotary_factor)``
    (for ``proportional``: ``head_dim`` itself) and ``base`` is ``rope_theta``. The
    attention factor multiplies cos and sin: pass it as ``magnitude`` to
    :func:`refimpl.rope.apply`. Hugging Face computes all of this in float32; compare
    at float32 precision. To start from a config, use
    :func:`refimpl.rope.from_hf_config`.

    Raises
    ------
    ValueError
        Unknown ``rope_type``; a parameter out of range.
    TypeError
        A missing required parameter or an unknown one (the message names it, and the
        fix for Hugging Face's ``rope_theta`` / ``partial_rotary_factor``).

    Examples
    --------
    >>> omega, scale = scaled_inv_freq("linear", 8, factor=2.0)
    >>> omega, scale
    (array([0.5   , 0.05  , 0.005 , 0.0005]), 1.0)
    """
    check_choice(rope_type, "rope_type", ROPE_TYPES)
    _check_parameters(rope_type, parameters)
    return ROPE_TYPES[rope_type](rotary_dim, base, **parameters)
