"""The kit's tolerance rule: ``SAFETY x eps(claimed dtype) x a size factor``.

Every threshold of a conformance check or a property is built here, from the precision a
foreign function *claims*, so that an honest float32 or bfloat16 implementation passes and
a float64 one is held to float64. The claim has two parts, checked separately:

* the **input dtype** (``dtype``): the precision of ``x``, of the tables applied to it
  (cos and sin) and of the output. Rounding to it costs ``eps`` relative per entry;
* the **angle dtype** (``angle_dtype``): the precision the angles ``p omega`` are computed
  in. Rounding the position, the frequency and their product costs about ``eps |p omega|``
  absolute on the angle, hence on the rotated entry: the error grows with the position.

``eps`` is the spacing of floating-point numbers at 1 (:data:`EPSILON`; the unit roundoff
is ``eps / 2``, :data:`ROUNDOFF`). The size factors, each stated where it is used:

* an entry computed by a fixed number of operations (a rotation: two products and a sum):
  1, so ``SAFETY (eps_in + eps_angle |angle|)`` (:func:`rotation_tolerance`);
* a sum of ``n`` rounded products (an attention score, a gradient entry of a VJP):
  ``sqrt(n)``, the probabilistic bound on the error of an inner product, which holds with
  overwhelming probability for independent roundings (N. J. Higham and T. Mary, "A New
  Approach to Probabilistic Rounding Error Analysis", SIAM J. Sci. Comput. 41(5),
  A2815-A2835, 2019) (:func:`sum_tolerance`);
* a frequency read from an angle at position ``p``: the angle's own error divided by ``p``
  (:func:`frequency_uncertainty`).

``SAFETY = 16`` covers the few roundings per entry that no model counts exactly (the cast
of the input, of cos and sin, of the output, the conversion back to float64).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._validation import check_choice

#: Machine epsilon (spacing of floats at 1) of the precisions a foreign function may claim.
EPSILON = {"float64": 2.0**-52, "float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}

#: Unit roundoff ``u = eps / 2`` of the precisions angles are commonly computed in.
ROUNDOFF = {"float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8}

#: Safety factor on ``eps`` in every tolerance: a few roundings per output entry.
SAFETY = 16.0

#: Precisions a foreign function may claim, finest first.
DTYPES = ("float64", "float32", "float16", "bfloat16")

__all__ = ["EPSILON", "ROUNDOFF", "SAFETY", "DTYPES", "epsilon", "angle_precision",
           "rotation_tolerance", "sum_tolerance", "frequency_uncertainty"]


def epsilon(dtype: str, name: str = "dtype") -> float:
    """``eps`` of a claimed precision, or ``ValueError`` naming the argument.

    Examples
    --------
    >>> epsilon("bfloat16")
    0.0078125
    """
    return EPSILON[check_choice(dtype, name, DTYPES)]


def angle_precision(dtype: str, angle_dtype: str | None) -> str:
    """The precision angles are held to: ``angle_dtype``, by default ``dtype`` but at least
    float32.

    Frameworks compute angles in float32 even in a half-precision model (Hugging Face
    keeps ``inv_freq`` in float32 and disables autocast around ``position_ids @ inv_freq``,
    ``transformers/models/llama/modeling_llama.py``; Meta builds ``freqs_cis`` in float32,
    ``meta-llama/llama`` ``llama/model.py``), so a float16 or bfloat16 claim means
    half-precision inputs and tables, float32 angles. Claim ``angle_dtype`` explicitly for
    anything else.

    Examples
    --------
    >>> angle_precision("bfloat16", None), angle_precision("float64", "float32")
    ('float32', 'float32')
    """
    check_choice(dtype, "dtype", DTYPES)
    if angle_dtype is not None:
        return check_choice(angle_dtype, "angle_dtype", DTYPES)
    return dtype if dtype in ("float64", "float32") else "float32"


def rotation_tolerance(input_eps: float, angle_eps: float, angle: ArrayLike,
                       magnitude: float = 1.0) -> np.ndarray:
    """Allowed error of a rotated entry, relative to ``|x|``:
    ``SAFETY (eps_in + eps_angle |angle|) max(1, magnitude)``.

    Examples
    --------
    >>> float(rotation_tolerance(2.0**-23, 2.0**-23, 0.0)) == 16 * 2.0**-23
    True
    """
    return (SAFETY * (input_eps + angle_eps * np.abs(np.asarray(angle, dtype=np.float64)))
            * max(1.0, magnitude))


def sum_tolerance(eps: float, terms: int) -> float:
    """Allowed relative error of a sum of ``terms`` rounded products: ``SAFETY eps sqrt(n)``.

    Examples
    --------
    >>> sum_tolerance(1.0, 4)
    32.0
    """
    return SAFETY * eps * float(np.sqrt(max(int(terms), 1)))


def frequency_uncertainty(input_eps: float, angle_eps: float, frequency: ArrayLike,
                          position: float) -> np.ndarray:
    """Relative error of a frequency read from the angle at ``position``:
    ``eps_angle + 2 eps_in / (position |omega|)``.

    The angle at ``p`` carries the angle dtype's relative error; the two angles it is
    differenced from (at ``p`` and at 0) are read from entries rounded to the input
    dtype, costing ``eps_in`` each, spread over ``p |omega|`` radians.

    Examples
    --------
    >>> float(frequency_uncertainty(0.0, 1e-7, 0.5, 1024.0))
    1e-07
    """
    omega = np.abs(np.asarray(frequency, dtype=np.float64))
    return angle_eps + 2.0 * input_eps / np.maximum(position * omega, 1e-300)
