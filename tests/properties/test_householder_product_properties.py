"""The Householder product properties, run on refimpl's householder_product and its
textbook form, against LAPACK dorgqr (SciPy's binding), over
:func:`refimpl.testing.strategies.product_cases` (m >= n >= k >= 1, m <= 24; some tau 0).
The compact-WY block edges are exercised by patching the block size."""

from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl import householder
from refimpl.householder import product as product_module
from refimpl.testing import strategies as rst
from refimpl.testing.properties import householder_product as properties

PROPERTIES = ("agrees_with_xorgqr", "orthonormal_columns", "reads_only_the_reflectors",
              "zero_tau_is_identity")


@pytest.mark.parametrize("name", PROPERTIES)
@given(case=rst.product_cases(max_m=40), block=st.sampled_from([1, 2, 3, 32]))
def test_householder_product(name, case, block):
    subject = properties.product_subject(householder.householder_product)
    with mock.patch.object(product_module, "BLOCK_SIZE", block):
        getattr(properties, name)(subject, case).assert_holds()


@pytest.mark.parametrize("name", PROPERTIES)
@given(case=rst.product_cases())
def test_householder_product_definition(name, case):
    subject = properties.product_subject(householder.householder_product_definition)
    getattr(properties, name)(subject, case).assert_holds()
