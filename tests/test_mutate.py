"""The mutant generator of tests/mutate.py (the mutation-testing runner, not run in CI)."""

import ast
import textwrap

import pytest
from mutate import _apply, _number_mutations, generate_mutants

SOURCE = textwrap.dedent('''\
    """Module docstring: x + 1 < 2 and not y."""
    LIMIT = 16.0


    def f(x: int | None = None, *, flag: bool = True, eps: float = 1e-12) -> list[int]:
        """f's docstring: a - b."""
        if x is None or x in (1, 2):
            raise ValueError(f"x must be >= {LIMIT + 1}, got {x - 1}")
        x += 3
        label = f"{x * 2}"
        assert x > 0, "never mutated"
        return [x ** 2 % 5 // 7, -x, not flag, ~x & x | x, x >= eps]
    ''')


def _ids(source):
    return [m.id for m in generate_mutants(source)]


def test_every_operator_is_found_in_code():
    changes = {(m.operator, m.before, m.after) for m in generate_mutants(SOURCE)}
    assert changes == {
        ("number", "16.0", "8.0"), ("bool", "True", "False"), ("number", "1e-12", "1e-06"),
        ("compare", "is", "is not"), ("boolop", "or", "and"), ("compare", "in", "not in"),
        ("number", "1", "0"), ("number", "1", "2"), ("number", "2", "3"),
        ("raise", "raise", "pass"), ("augassign", "+=", "-="), ("number", "3", "4"),
        ("binop", "**", "*"),
        ("binop", "%", "/"), ("binop", "//", "/"), ("number", "5", "6"), ("number", "7", "8"),
        ("neg", "-x", "x"), ("not", "not x", "x"), ("not", "~x", "x"), ("binop", "&", "|"),
        ("binop", "|", "&"), ("compare", ">=", ">")}


def test_docstrings_strings_annotations_and_asserts_are_untouched():
    lines = {m.line for m in generate_mutants(SOURCE)}
    assert lines == {2, 5, 7, 8, 9, 12}  # not the docstrings, the f-string, the assert
    for mutant in generate_mutants(SOURCE):
        if mutant.line in (5, 8):  # annotations (int | None) and the raise's message
            assert mutant.operator in ("bool", "number", "raise")


def test_each_mutant_changes_one_thing_and_shows_it_in_a_one_line_diff():
    tree = ast.dump(ast.parse(SOURCE))
    for mutant in generate_mutants(SOURCE):
        mutated = _apply(SOURCE, mutant.edits)
        assert ast.dump(ast.parse(mutated)) != tree
        line = mutant.line - 1
        assert mutant.diff.split("\n") == [f"@@ -{mutant.line} +{mutant.line} @@",
                                           "-" + SOURCE.split("\n")[line],
                                           "+" + mutated.split("\n")[line]]


def test_ids_survive_unrelated_edits_above():
    ids = _ids(SOURCE)
    edited = SOURCE.replace("LIMIT = 16.0\n", "LIMIT = 16.0\nOTHER = 2 * 3\n\n\ndef g():\n"
                                               "    return LIMIT - 1\n")
    assert set(ids) < set(_ids(edited))
    reformatted = SOURCE.replace("x ** 2 % 5 // 7", "(x**2) % 5 // 7")
    assert _ids(reformatted) == ids


def test_repeated_expressions_are_numbered_in_source_order():
    source = "def f(a):\n    b = a + 1\n    return a + 1\n"
    assert [i for i in _ids(source) if ":binop:" in i] == ["f:binop:+ -> -:a + 1#0",
                                                            "f:binop:+ -> -:a + 1#1"]


@pytest.mark.parametrize("source, mutated", [
    ("y = ~a & ~b & c\n", "y = (~a | ~b) & c\n"),  # | binds looser than &
    ("y = a * b ** 2\n", "y = a * (b * 2)\n"),  # * is left-associative
])
def test_a_change_of_precedence_is_parenthesised(source, mutated):
    assert mutated in [_apply(source, m.edits) for m in generate_mutants(source)]


@pytest.mark.parametrize("value, expected", [
    (0, [1]), (1, [0, 2]), (7, [8]), (0.0, [1.0]), (0.5, [0.25]), (50.0, [25.0]),
    (1e-12, [1e-06]), (1e-17, [3.16e-09]), (float("inf"), [])])
def test_number_mutations(value, expected):
    assert _number_mutations(value) == expected
