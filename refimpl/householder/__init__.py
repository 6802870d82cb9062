"""Householder reflections, orthogonal maps that send one unit vector to another, and
Householder products.

A Householder reflection :math:`H_v = I - 2 v v^T / (v^T v)` mirrors space in the
hyperplane orthogonal to ``v``; it is symmetric, orthogonal and its own inverse, and it
costs O(d) per vector to apply without ever forming the d x d matrix
(:mod:`~refimpl.householder.reflection`). One or two reflections build the orthogonal maps
of the post "an orthogonal matrix that maps one unit vector to another"
(https://kexue.fm/archives/8453): :mod:`~refimpl.householder.maps` applies them fast,
:mod:`~refimpl.householder.map_definitions` writes them as plain reflections. Products
of many reflectors in LAPACK's storage, ``xORGQR`` and the QR factorisation ``xGEQRF``,
are in :mod:`~refimpl.householder.product`; :mod:`~refimpl.householder.apply`
multiplies a matrix by such a product without forming it (``xORMQR``). Every
differentiable function ``f`` has a hand-written ``f_vjp``, and every fast form that does
not read like its equation a textbook ``f_definition`` it is tested against.

Examples
--------
>>> from refimpl import householder
>>> a, b = householder.normalize([3.0, 4.0]), householder.normalize([4.0, 3.0])
>>> householder.stable_map(a, a, b)
array([0.8, 0.6])
"""

from refimpl._validation import UNIT_NORM_RTOL as UNIT_NORM_RTOL  # the maps' default rtol
from refimpl.householder._common import BLOCK_BYTES
from refimpl.householder.apply import (
    householder_apply,
    householder_apply_definition,
    householder_apply_vjp,
)
from refimpl.householder.map_definitions import (
    householder_map_definition,
    rotation_map_definition,
    stable_map_definition,
    symmetric_map_definition,
)
from refimpl.householder.maps import (
    householder_map,
    householder_map_matrix,
    householder_map_vjp,
    rotation_map,
    rotation_map_matrix,
    rotation_map_vjp,
    stable_map,
    stable_map_matrix,
    stable_map_vjp,
    symmetric_map,
    symmetric_map_matrix,
    symmetric_map_vjp,
)
from refimpl.householder.product import (
    BLOCK_SIZE,
    householder_product,
    householder_product_definition,
    householder_product_vjp,
    householder_product_vjp_definition,
    householder_qr,
)
from refimpl.householder.reflection import (
    normalize,
    normalize_vjp,
    reflect,
    reflect_definition,
    reflect_vjp,
    reflection_matrix,
)

__all__ = [
    "BLOCK_BYTES",
    "BLOCK_SIZE",
    "normalize",
    "normalize_vjp",
    "reflect",
    "reflect_definition",
    "reflect_vjp",
    "reflection_matrix",
    "householder_map",
    "householder_map_definition",
    "householder_map_vjp",
    "householder_map_matrix",
    "rotation_map",
    "rotation_map_definition",
    "rotation_map_vjp",
    "rotation_map_matrix",
    "symmetric_map",
    "symmetric_map_definition",
    "symmetric_map_vjp",
    "symmetric_map_matrix",
    "stable_map",
    "stable_map_definition",
    "stable_map_vjp",
    "stable_map_matrix",
    "householder_product",
    "householder_product_definition",
    "householder_product_vjp",
    "householder_product_vjp_definition",
    "householder_qr",
    "householder_apply",
    "householder_apply_definition",
    "householder_apply_vjp",
]
