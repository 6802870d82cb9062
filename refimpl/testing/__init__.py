"""Conformance kit: check another framework's function against refimpl.

(Public API assembled below; Hypothesis strategies live in
:mod:`refimpl.testing.strategies` and need the ``test`` extra.)
"""
