"""The VJP properties, run on refimpl's hand-written VJPs of the references a foreign
backward can be checked against (refimpl.testing.properties.vjp.VJP_REFERENCES):
each against central differences of its forward, over
:func:`refimpl.testing.strategies.vjp_arguments`."""

import pytest
from hypothesis import given

from refimpl.testing import strategies as rst
from refimpl.testing.properties import vjp as properties


@pytest.mark.parametrize("name", sorted(properties.VJP_REFERENCES))
def test_refimpl_vjps_against_finite_differences(name):
    forward, backward = properties.VJP_REFERENCES[name]
    subject = properties.vjp_subject(forward, backward)

    @given(case=rst.vjp_arguments(name))
    def check(case):
        properties.against_finite_differences(subject, case).assert_holds()

    check()
