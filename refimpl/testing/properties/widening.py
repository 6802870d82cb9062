"""Properties of a growth operator: the grown model computes the small model's function.

Function-preserving growth (Chen, Goodfellow and Shlens, "Net2Net: Accelerating
Learning via Knowledge Transfer", 2016, arXiv:1511.05641; Su, "How to losslessly
enlarge a Transformer model", 2021, https://kexue.fm/archives/8444; Samragh et al.,
"Scaling Smart: Accelerating Large Language Model Pre-training with Small Model
Initialization" (HyperCloning), 2024, arXiv:2409.12903) widens or deepens a network so
that, before any training, ``grown(x) = small(x)`` for every input. Copies of a unit
then receive equal gradients and never separate, unless noise that keeps the function
breaks the symmetry. The two properties below take the user's callables:

* ``preserves_function``: ``small`` and ``grown`` map an input (drawn by the user's
  strategy) to outputs; ``max |grown(x) - small(x)| <= SAFETY eps size max(1, max|small(x)|)``
  with ``size`` the subject's size factor (default 256: a small Transformer's logits go
  through a few hundred roundings, layer after layer);
* ``copies_separate_under_noise``: ``copy_gradients(noise, seed)`` returns groups of
  arrays, each group the gradients of the copies of one original unit. Without noise
  every group's spread ``max_i |g_i - g_0|`` stays at rounding level, ``SAFETY eps size``
  of the largest gradient; with ``noise`` every group's spread exceeds ``min_spread`` of
  it (1e-6 by default, far above rounding and far below the effect of noise 1e-3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from refimpl.testing.properties._core import Case, Property, PropertyResult, tolerance

__all__ = ["WideningSubject", "preserves_function", "copies_separate_under_noise",
           "PROPERTIES"]

#: ``copy_gradients(noise, seed)``: groups of gradients of copies of one unit each.
CopyGradients = Callable[[float, int], Sequence[Sequence[np.ndarray]]]


@dataclass(frozen=True, eq=False)
class WideningSubject:
    """A small model, its grown version and how to test them.

    ``inputs`` is a Hypothesis strategy of inputs ``x`` for ``small(x)`` and ``grown(x)``
    (the plugin draws from it); ``copy_gradients`` (optional) feeds
    :func:`copies_separate_under_noise`; ``noise`` is the symmetry-breaking noise it is
    called with.
    """

    small: Callable[[Any], Any]
    grown: Callable[[Any], Any]
    inputs: Any = None
    copy_gradients: CopyGradients | None = None
    noise: float = 0.1
    size: float = 256.0
    min_spread: float = 1e-6
    dtype: str = "float64"
    name: str = "grown"


def _output(fn: Callable[[Any], Any], x: Any) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(fn(x), dtype=np.float64)


def preserves_function(subject: WideningSubject, case: Case) -> PropertyResult:
    """``grown(x) = small(x)`` (field ``x``).

    Measured: ``max |grown(x) - small(x)| / max(1, max |small(x)|)``. Tolerance:
    ``SAFETY eps size`` (module notes).
    """
    before, after = _output(subject.small, case.x), _output(subject.grown, case.x)
    if before.shape != after.shape:
        return PropertyResult("widening.preserves_function", np.inf, 0.0,
                              f"output shapes differ: small {before.shape}, grown {after.shape}",
                              ("the grown model changes the output shape",), case)
    scale = max(1.0, float(np.max(np.abs(before), initial=0.0)))
    error = float(np.max(np.abs(after - before), initial=0.0)) / scale
    faults = () if np.all(np.isfinite(after)) else ("the grown model gives non-finite outputs",)
    return PropertyResult("widening.preserves_function", error,
                          tolerance(subject.dtype, subject.size),
                          "max |grown(x) - small(x)| / max(1, max |small(x)|)", faults, case)


def _spreads(groups: Sequence[Sequence[np.ndarray]]) -> tuple[np.ndarray, float]:
    """Each group's ``max_i |g_i - g_0|`` and the largest gradient entry of all groups."""
    arrays = [[np.asarray(g, dtype=np.float64) for g in group] for group in groups]
    spreads = np.array([max(float(np.max(np.abs(g - group[0]), initial=0.0)) for g in group)
                        for group in arrays])
    scale = max((float(np.max(np.abs(g), initial=0.0)) for group in arrays for g in group),
                default=0.0)
    return spreads, max(scale, 1e-300)


def copies_separate_under_noise(subject: WideningSubject, case: Case) -> PropertyResult:
    """Copies get equal gradients without noise and different ones with it (field
    ``seed``; needs ``subject.copy_gradients``).

    Measured: ``max(spread_0 / (SAFETY eps size), min_spread / min spread_noise)``,
    relative to the largest gradient; passes at ``<= 1``.
    """
    if subject.copy_gradients is None:
        raise ValueError("copies_separate_under_noise needs subject.copy_gradients; got None")
    exact, exact_scale = _spreads(subject.copy_gradients(0.0, int(case.seed)))
    noisy, noisy_scale = _spreads(subject.copy_gradients(subject.noise, int(case.seed)))
    if exact.size == 0 or noisy.size == 0:
        return PropertyResult("widening.copies_separate_under_noise", np.inf, 1.0,
                              "copy_gradients returned no group of copies", (), case)
    equal = float(np.max(exact)) / exact_scale / tolerance(subject.dtype, subject.size)
    smallest = float(np.min(noisy)) / noisy_scale
    apart = subject.min_spread / smallest if smallest > 0 else np.inf
    faults = []
    if equal > 1:
        faults.append("copies get different gradients without noise: they are not exact "
                      "copies (or the growth is not function-preserving)")
    if apart > 1:
        faults.append(f"with noise={subject.noise:g}, group {int(np.argmin(noisy))} of copies "
                      f"still gets equal gradients: the noise does not break its symmetry")
    return PropertyResult("widening.copies_separate_under_noise", max(equal, apart), 1.0,
                          f"spread without noise {float(np.max(exact)) / exact_scale:.2e} "
                          f"(relative), smallest with noise {smallest:.2e}", tuple(faults), case)


#: The properties of a growth operator, in the order the plugin runs them.
PROPERTIES = (
    Property("widening", "preserves_function", "grown(x) = small(x)", "SAFETY eps(dtype) size",
             preserves_function, "widening_inputs"),
    Property("widening", "copies_separate_under_noise",
             "equal gradients of copies without noise, different with noise",
             "SAFETY eps(dtype) size / min_spread", copies_separate_under_noise, "seeds",
             lambda s: s.copy_gradients is not None),
)
