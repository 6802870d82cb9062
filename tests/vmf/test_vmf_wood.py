"""refimpl.vmf.wood: Wood's sampler in his variables (wood_definition) against the complement
form the samplers use (sample_marginal(method="wood")), on the same random draws.

Both consume the Generator in the same order (two Gamma(m/2) draws per proposal, then one
uniform, rejected entries redrawn round by round), so one seed gives both the same proposals.
They then agree to the rounding of the textbook formulas, whose error model is:

* ``w = (1 - (1 + b) z) / (1 - (1 - b) z)`` with ``b`` fixed: numerator and denominator are
  within ``3 u`` (absolute, ``z <= 1``, ``b <= 1``), the denominator equals
  ``2 / ((1 + w) + (1 - w) / b)``, so ``|dw| <= 4 u ((1 + w) + (1 - w) / b) + u``;
* the textbook ``b = (s - 2 kappa) / m``, ``s = sqrt(4 kappa^2 + m^2)``, cancels: its
  relative error is about ``1.5 u s (2 kappa + s) / m^2 + 2 u``, and ``dw/db =
  -(1 - w^2) / (2 b)`` turns it into ``|dw| <= (1 - w^2) (0.75 s (2 kappa + s) / m^2 + 1) u``;
* the complement form is accurate to ``u (6 (1 - w) + 1)``.

The tolerance is 8 u (4 + (1 - w)/b + (1 - w^2)(1 + s (2 kappa + s)/m^2)), about twice the
sum, evaluated with the complement form's ``w`` and the stable ``b = m / (2 kappa + s)``:
a condition-number-scaled tolerance, so the comparison also covers large kappa, where
``1 - w`` is small and the textbook form has lost digits.

An acceptance decision can differ between the forms only where ``log u`` lies within the
textbook log-ratio's error (about ``20 u kappa^2 / m``) of the threshold; the density of
``log u`` is at most 1, so for kappa <= 1e3 that is below 1e-8 per proposal. A differing
decision desynchronises the streams, which the tests see (they also check that both
generators end in the same state).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.vmf import WOOD_DEFINITION_MAX_RATIO, sample_marginal, wood_definition

U = np.finfo(np.float64).eps


def _tolerance(w, d, kappa):
    """The error model of the module notes, per draw."""
    m = d - 1.0
    s = np.hypot(2.0 * kappa, m)
    b = m / (2.0 * kappa + s)
    return 8 * U * (4 + (1 - w) / b + (1 - w * w) * (1 + s * (2 * kappa + s) / m**2))


def _both(d, kappa, size, seed):
    """Both forms on the same seed, and one further uniform from each generator (equal
    when both consumed the same number of draws)."""
    fast_rng, definition_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    fast = sample_marginal(d, kappa, size=size, rng=fast_rng, method="wood")
    definition = wood_definition(d, kappa, size=size, rng=definition_rng)
    return fast, definition, fast_rng.random(), definition_rng.random()


@given(st.sampled_from([2, 3, 4, 5, 10, 64, 500]),
       st.one_of(st.just(0.0), st.floats(-6, 3).map(lambda e: 10.0**e)),
       st.integers(0, 2**32 - 1))
def test_definition_and_complement_form_agree_on_the_same_draws(d, kappa, seed):
    fast, definition, after_fast, after_definition = _both(d, kappa, 400, seed)
    assert after_fast == after_definition  # the same proposals were drawn and accepted
    assert np.all(np.abs(definition - fast) <= _tolerance(fast, d, kappa))


@pytest.mark.parametrize("d", [2, 3, 50])
def test_agreement_at_the_largest_accepted_concentration(d):
    """kappa = 1e4 (d - 1): b is accurate to ~4e-7 only, 1 - w ~ 5e-5; the scaled tolerance
    still holds (decision flips: about 20 u kappa^2/m <= 1e-5 per proposal here)."""
    kappa = WOOD_DEFINITION_MAX_RATIO * (d - 1)
    fast, definition, after_fast, after_definition = _both(d, kappa, 200, d)
    assert after_fast == after_definition
    tolerance = _tolerance(fast, d, kappa)
    assert np.all(np.abs(definition - fast) <= tolerance)
    # Not vacuous: the tolerance is far below 1 - w (about 64 u (kappa/m)^2 of it).
    assert np.median(tolerance / (1 - fast)) < 1e-5


def test_one_kappa_per_column_and_sample_axes():
    """kappa of shape (3,) with size (40, 2): output (40, 2, 3), per-draw parameters in
    both forms, the same draws."""
    kappa = np.array([0.5, 20.0, 300.0])
    fast, definition, after_fast, after_definition = _both(7, kappa, (40, 2), 5)
    assert definition.shape == fast.shape == (40, 2, 3)
    assert after_fast == after_definition
    assert np.all(np.abs(definition - fast) <= _tolerance(fast, 7, kappa))


def test_kappa_zero_is_the_beta_proposal_itself():
    """kappa = 0: b = 1, x0 = 0, c = 0, every proposal is accepted and w = 1 - 2 z with
    z = g1 / (g1 + g2), g_i ~ Gamma(m/2): rebuilt here from the same generator."""
    d, n = 6, 50
    rng = np.random.default_rng(3)
    g1, g2 = rng.standard_gamma((d - 1) / 2, size=(2, n))
    expected = 1.0 - 2.0 * (g1 / (g1 + g2))
    np.testing.assert_allclose(wood_definition(d, 0.0, size=n, rng=3), expected, rtol=0,
                               atol=4 * U)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="kappa must be at most"):
        wood_definition(3, 2.1e4)
    with pytest.raises(ValueError, match="kappa"):
        wood_definition(3, -1.0)
    with pytest.raises(ValueError, match="d must be at least 2"):
        wood_definition(1, 1.0)
    with pytest.raises(ValueError, match="size"):
        wood_definition(3, 1.0, size=-2)
    with pytest.raises(TypeError, match="rng"):
        wood_definition(3, 1.0, rng="seed")
