"""refimpl.vmf.sampling.inverse_cdf_table: the structure its docstring states and its
accuracy against the exact CDF (deterministic, no statistics)."""

from __future__ import annotations

import numpy as np
import pytest

from refimpl.vmf import sampling as vs
from refimpl.vmf.marginal import marginal_cdf, mode_interval

# (2, 20): the last interior CDF value is 0.9993, far from 1 (d = 2 has mass near theta = 0);
# (200, 50): the mode interval lies inside (0, pi), so both tails get their own grid points.
CASES = [(2, 0.5), (2, 20.0), (3, 7.0), (200, 50.0)]


@pytest.mark.parametrize("d, kappa", CASES)
def test_table_runs_from_pi_to_0_and_from_0_to_1(d, kappa):
    """``cdf`` increases from 0 to 1 while ``angle`` decreases from pi to 0, and ``size``
    equally spaced angles cover the mode interval mode +- 16 sd."""
    table = vs.inverse_cdf_table(d, kappa, size=512)
    assert table.d == d and table.kappa == kappa
    assert table.angle[0] == np.pi and table.angle[-1] == 0.0
    assert np.all(np.diff(table.angle) < 0)
    assert table.cdf[0] == 0.0 and table.cdf[-1] == 1.0
    assert np.all(np.diff(table.cdf) >= 0) and table.cdf.shape == table.angle.shape
    lo, hi = mode_interval(d, kappa)
    inside = table.angle[(table.angle >= lo) & (table.angle <= hi)]
    assert inside.size == 512
    np.testing.assert_allclose(np.diff(inside), -(hi - lo) / 511, rtol=1e-9)


@pytest.mark.parametrize("d, kappa", CASES)
def test_table_inverse_cdf_accuracy(d, kappa):
    """F(cos theta(u)) = u to the documented interpolation error, about (spacing/sd)^2/60
    in probability (~6e-8 at the default size, spacing = 32 sd / 16383; measured at most
    1.2e-7 over these cases, at d = 200): bound 2.5e-7, i.e. 4 times the model. A table
    with half the angles errs by about 4 times more (4.7e-7 at d = 200)."""
    table = vs.inverse_cdf_table(d, kappa)
    u = np.linspace(0.0, 1.0, 4001)
    err = np.abs(marginal_cdf(np.cos(table.angle_at(u)), d, kappa) - u)
    assert err.max() <= 2.5e-7


def test_table_arguments_are_checked():
    """size >= 16 (16 is accepted), kappa >= 0."""
    table = vs.inverse_cdf_table(4, 3.0, size=16)
    assert table.cdf[0] == 0.0 and table.cdf[-1] == 1.0
    with pytest.raises(ValueError, match="size"):
        vs.inverse_cdf_table(4, 3.0, size=15)
    with pytest.raises(ValueError, match="kappa"):
        vs.inverse_cdf_table(4, -1.0)
