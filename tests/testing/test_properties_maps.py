"""refimpl.testing.properties.maps and .householder_product on independent NumPy ports:
correct ones pass, the usual mistakes fail the property that states them."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.linalg import lapack

from refimpl.testing import strategies as rst
from refimpl.testing.properties import Case, maps
from refimpl.testing.properties import householder_product as product


def reflection(x, a, b):
    """I - 2 u u^T with u = (a - b)/|a - b|, without a branch for b = a (naive)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        u = (a - b) / np.linalg.norm(a - b)
    return x - 2 * (x @ u)[..., None] * u


def regularised(x, a, b):
    u = (a - b) / (np.linalg.norm(a - b) + 1e-5)
    return x - 2 * (x @ u)[..., None] * u


def random_pair(d=5, seed=0):
    rng = np.random.default_rng(seed)
    a, b = (v / np.linalg.norm(v) for v in rng.standard_normal((2, d)))
    return Case(a=a, b=b, z=rng.standard_normal((3, d)))


@given(case=rst.map_cases(st.integers(2, 16)).filter(
    lambda c: np.linalg.norm(c.a - c.b) > 1e-3))
def test_naive_reflection_passes_away_from_its_singular_point(case):
    subject = maps.map_subject(reflection, determinant="-1", complement="+1", singular="a-b")
    for check in (maps.orthogonality, maps.maps_a_to_b, maps.determinant, maps.complement):
        check(subject, case).assert_holds()


def test_naive_reflection_at_a_equals_b_is_a_named_fault():
    a = random_pair().a
    result = maps.maps_a_to_b(maps.map_subject(reflection), Case(a=a, b=a.copy()))
    assert not result.passed and "non-finite" in result.faults[0]


def test_epsilon_regularised_normal_is_not_orthogonal():
    result = maps.orthogonality(maps.map_subject(regularised), random_pair())
    assert not result.passed and result.measured > 1e-6


def test_wrong_determinant_claim_is_named():
    subject = maps.map_subject(reflection, determinant="+1")
    result = maps.determinant(subject, random_pair())
    assert not result.passed and "determinant -1, expected +1" in result.faults[0]


def test_wrong_complement_sign_fails():
    subject = maps.map_subject(reflection, complement="-1")
    result = maps.complement(subject, random_pair())
    assert not result.passed and result.measured > 1.0  # |2 z_i| against max |z|


def test_complement_is_empty_in_two_dimensions_and_at_the_singular_point():
    subject = maps.map_subject(reflection, complement="+1", singular="a-b")
    assert maps.complement(subject, random_pair(d=2)).detail.startswith("not applicable")
    a = random_pair().a
    result = maps.complement(subject, Case(a=a, b=a.copy(), z=np.ones((1, 5))))
    assert result.passed and "not applicable" in result.detail


def test_singular_point_sets_the_tolerance():
    case = random_pair()
    b = case.a + 1e-6 * case.b
    near = Case(a=case.a, b=b / np.linalg.norm(b))
    both = maps.maps_a_to_b(maps.map_subject(reflection), near).tolerance
    none = maps.maps_a_to_b(maps.map_subject(reflection, singular="none"), near).tolerance
    assert both > 1e4 * none


def test_sign_rules():
    a, b = np.eye(3)[0], np.eye(3)[1]
    assert maps.sign_rule("(-1)^(d-1)")(a, b) == 1.0
    assert maps.sign_rule("stable")(a, -b + 0.1 * a) == 1.0
    assert maps.sign_rule(-1)(a, b) == -1.0 and maps.sign_rule(None) is None
    with pytest.raises(ValueError, match="sign rule"):
        maps.sign_rule("det")


def dense_product(V, tau, *, reverse=False, read_diagonal=False, flip=False):
    """An independent port of xORGQR: multiply dense reflectors."""
    m, n = V.shape
    Y = np.tril(V[:, :len(tau)], 0 if read_diagonal else -1)
    if not read_diagonal:
        Y[np.arange(len(tau)), np.arange(len(tau))] = 1.0
    tau = np.array(tau, dtype=float)
    if flip:
        tau[0] = -tau[0]
    Q = np.eye(m)
    for i in (reversed(range(len(tau))) if reverse else range(len(tau))):
        Q = Q @ (np.eye(m) - tau[i] * np.outer(Y[:, i], Y[:, i]))
    return Q[:, :n]


PRODUCT_PROPERTIES = [p for p in product.PROPERTIES]


@pytest.mark.parametrize("prop", PRODUCT_PROPERTIES, ids=lambda p: p.name)
@given(case=rst.product_cases())
def test_dense_port_and_lapack_pass(prop, case):
    for fn in (dense_product, lambda V, tau: lapack.dorgqr(V, tau)[0]):
        prop.check(product.product_subject(fn), case).assert_holds()


def product_case(seed=0):
    rng = np.random.default_rng(seed)
    return Case(V=rng.standard_normal((7, 5)), tau=rng.uniform(0.5, 1.5, 4),
                noise=rng.standard_normal((7, 5)))


@pytest.mark.parametrize("mistake, failing, phrase", [
    ({"flip": True}, "agrees_with_xorgqr", "tau[0] negated"),
    ({"reverse": True}, "agrees_with_xorgqr", "reverse order"),
    ({"read_diagonal": True}, "reads_only_the_reflectors", "diagonal of V read"),
])
def test_mistakes_fail_and_are_named(mistake, failing, phrase):
    subject = product.product_subject(lambda V, tau: dense_product(V, tau, **mistake))
    assert not getattr(product, failing)(subject, product_case()).passed
    assert any(phrase in fault for fault in product.diagnose(subject))


def test_wrong_shape_is_a_fault():
    subject = product.product_subject(lambda V, tau: dense_product(V, tau)[:, :1])
    result = product.agrees_with_xorgqr(subject, product_case())
    assert not result.passed and "first n columns" in result.faults[0]
