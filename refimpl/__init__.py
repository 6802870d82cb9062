"""refimpl: NumPy/SciPy reference implementations to check other code against.

Rotary position embeddings, Householder maps, the von Mises-Fisher distribution, a
reference Transformer and its function-preserving widening, and the smaller ideas around
them, each with a hand-written vector-Jacobian product, in float64. See the README for a
tour and ``python -m refimpl check`` for the library's self-verification.
"""

__version__ = "0.2.0"
