"""The a -> b map properties of refimpl.testing.properties.maps, run on refimpl's maps.

Each map is run with the claims its docstring makes: its singular point (where its
normal cancels), its determinant and its sign on span(a, b)^perp. Pairs come from
:func:`refimpl.testing.strategies.map_cases` (random, nearly equal, nearly opposite,
exactly equal or opposite, axis-aligned, components over 300 decades; d = 2..64).
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl import householder
from refimpl.testing import strategies as rst
from refimpl.testing.properties import maps as properties

#: ``kind: (singular point, determinant, complement sign)``.
CLAIMS = {"householder": ("a-b", "-1", "+1"), "rotation": ("a+b", "+1", "+1"),
          "symmetric": ("a+b", "(-1)^(d-1)", "-1"),
          "stable": ("none", "stable", "stable-complement")}
FORMS = ("apply", "matrix")
PROPERTIES = ("orthogonality", "maps_a_to_b", "determinant", "complement")


def subject(kind: str, form: str) -> properties.MapSubject:
    singular, determinant, complement = CLAIMS[kind]
    fn = getattr(householder, f"{kind}_map" if form == "apply" else f"{kind}_map_matrix")
    return properties.map_subject(fn, form=form, determinant=determinant,
                                  complement=complement, singular=singular)


@pytest.mark.parametrize("name", PROPERTIES)
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("kind", sorted(CLAIMS))
@given(case=rst.map_cases(st.integers(2, 64)))
def test_map_properties(kind, form, name, case):
    getattr(properties, name)(subject(kind, form), case).assert_holds()


@pytest.mark.parametrize("kind", sorted(CLAIMS))
@given(case=rst.map_cases(st.integers(2, 16)))
def test_textbook_forms_have_the_same_properties(kind, case):
    """The ``*_map_definition`` forms (plain reflections) satisfy the same statements."""
    singular, determinant, complement = CLAIMS[kind]
    textbook = properties.map_subject(getattr(householder, f"{kind}_map_definition"),
                                      determinant=determinant, complement=complement,
                                      singular=singular)
    for name in PROPERTIES:
        getattr(properties, name)(textbook, case).assert_holds()
