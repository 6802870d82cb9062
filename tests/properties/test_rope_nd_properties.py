"""The N-D RoPE properties of refimpl.testing.properties.rope_nd, run on refimpl's N-D RoPE.

Every frequency builder (axial, axis-interleaved, RoPE-Mixed, M-RoPE chunked and
interleaved, an arbitrary learned F with zero and repeated columns), both layouts, with
and without an orthogonal change of basis; positions from
:func:`refimpl.testing.strategies.rope_nd_cases` (reals in [-40, 40]).
"""

import numpy as np
import scipy.stats
from hypothesis import given
from hypothesis import strategies as st

from refimpl.rope import apply
from refimpl.rope.nd import (
    axial_frequencies,
    axis_interleaved_frequencies,
    mixed_frequencies,
    mrope_frequencies,
    nd_angles,
)
from refimpl.testing import strategies as rst
from refimpl.testing.properties import Case
from refimpl.testing.properties import rope_nd as properties

BUILDERS = ("axial", "axis_interleaved", "mixed", "mrope", "mrope_interleaved", "learned")


@st.composite
def subjects(draw):
    """refimpl's ``apply(x, nd_angles(p, F), layout, basis)`` for a drawn F."""
    builder = draw(st.sampled_from(BUILDERS))
    n_axes = 2 if builder == "mixed" else draw(st.integers(1, 4))
    dim = 2 * n_axes * draw(st.integers(1, 32 // n_axes))
    if builder == "mixed" and dim % 4:
        dim *= 2
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = draw(st.sampled_from([10.0, 100.0, 1e4, 1e6]))
    if builder == "axial":
        F = axial_frequencies(dim, n_axes, base)
    elif builder == "axis_interleaved":
        F = axis_interleaved_frequencies(dim, n_axes, base)
    elif builder == "mixed":
        F = mixed_frequencies(dim, 1, rng=rng)[0]
    elif builder.startswith("mrope"):
        cuts = np.sort(rng.integers(0, dim // 2 + 1, size=n_axes - 1))
        sections = np.diff(np.concatenate([[0], cuts, [dim // 2]]))
        F = mrope_frequencies(dim, sections, base=base, interleaved=builder.endswith("ed"))
    else:
        F = rng.uniform(-3, 3, size=(n_axes, dim // 2)) * rng.integers(0, 2, size=dim // 2)
    layout = draw(st.sampled_from(["interleaved", "half"]))
    basis = scipy.stats.ortho_group.rvs(dim, random_state=rng) if draw(st.booleans()) else None

    def fn(x, positions):
        return apply(x, nd_angles(positions, F), layout=layout, basis=basis)

    return properties.RopeNdSubject(fn, dim, n_axes,
                                    omega_max=float(np.max(np.abs(F), initial=0.0)) or 1.0,
                                    name=f"{builder}[{layout}]")


@given(subjects(), st.data())
def test_relativity(subject, data):
    case = data.draw(rst.rope_nd_cases(subject.head_dim, subject.n_axes, integer=False))
    properties.relativity(subject, case).assert_holds()


@given(subjects(), st.data())
def test_commutation(subject, data):
    case = data.draw(rst.rope_nd_cases(subject.head_dim, subject.n_axes, integer=False))
    properties.commutation(subject, case).assert_holds()


def test_axial_rope_is_invertible_on_a_32_by_32_grid():
    """The axial D = 16 RoPE of the RoPE-2D post (base 1e4) separates all 1024 points."""
    F = axial_frequencies(16, 2)
    subject = properties.RopeNdSubject(lambda x, p: apply(x, nd_angles(p, F)), 16, 2,
                                       grid=(32, 32))
    properties.invertibility_on_grid(subject, Case()).assert_holds()


def test_rotation_by_the_sum_of_coordinates_is_not_invertible():
    """rot((x + y) theta): positions (1, -1) and (0, 0) get the same rotation."""
    F = np.array([[0.7], [0.7]])
    subject = properties.RopeNdSubject(lambda x, p: apply(x, nd_angles(p, F)), 2, 2,
                                       grid=(4, 4))
    result = properties.invertibility_on_grid(subject, Case())
    assert not result.passed and "offset d = [1.0, -1.0]" in result.detail
