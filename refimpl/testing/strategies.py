"""Hypothesis strategies for property tests of RoPE, Householder, vMF and Transformer code.

These generate the inputs that break implementations: unit vectors that are nearly
equal, nearly opposite or axis-aligned; positions that are integer, real or large
(where float32 angles fail); orthonormal bases; vMF parameters over the whole
``(d, kappa)`` range (kappa log-uniform over twenty decades, plus 0); RoPE
configurations as :class:`refimpl.testing.presets.RopeConvention`; small Transformer
configurations. Use them in your own tests::

    from hypothesis import given  # used by the examples below
    from refimpl.testing import strategies as rst

    @given(rst.unit_vector_pairs(dim=16))
    def test_my_map_sends_a_to_b(pair):
        a, b = pair
        assert np.allclose(my_map(a, b) @ a, b, atol=1e-12)

This module imports Hypothesis, which is part of refimpl's ``test`` extra
(``pip install refimpl[test]``); the rest of :mod:`refimpl.testing` does not need it.
Values are float64; pass ``width=32`` where noted to get values exactly representable
in float32, for float32 back-ends.

The ``*_cases`` strategies draw whole inputs of the properties of
:mod:`refimpl.testing.properties` as a :class:`~refimpl.testing.properties.Case`,
which prints every array with its shape when Hypothesis reports a falsifying example.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from hypothesis import given  # noqa: F401 (the examples below use it)
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refimpl.rope.frequencies import scaled_inv_freq
from refimpl.testing.presets import RopeConvention
from refimpl.testing.properties import Case

__all__ = ["unit_vectors", "unit_vector_pairs", "positions", "orthonormal_bases",
           "vmf_parameters", "rope_conventions", "transformer_configs", "rope_cases",
           "rope_nd_cases", "map_cases", "product_cases", "normalizer_cases",
           "attention_cases", "vjp_arguments", "seeds", "built"]


@st.composite
def built(draw: Any, strategy: st.SearchStrategy[Any], build: Any = None) -> Any:
    """``build(value)`` of a value drawn from ``strategy`` (the value itself without
    ``build``). Unlike ``strategy.map(build)``, Hypothesis then prints a falsifying
    example by its ``repr`` (arrays, a :class:`~refimpl.testing.properties.Case` with
    shapes) rather than as a call of the lambda that built it."""
    value = draw(strategy)
    return _fresh(value if build is None else build(value))


def _fresh(value: Any) -> Any:
    """A copy of a drawn array or tuple of arrays. Hypothesis remembers which call
    produced each drawn object and prints that call for it (``(lambda t: ...)(...)``); a
    new object has no such history and is printed by its ``repr``."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if type(value) is tuple:
        return tuple(_fresh(item) for item in value)
    return value


def _normalized(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def _dims(dim: int | st.SearchStrategy[int] | None, max_dim: int) -> st.SearchStrategy[int]:
    if dim is None:
        return st.integers(1, max_dim)
    return dim if isinstance(dim, st.SearchStrategy) else st.just(int(dim))


def unit_vectors(dim: int | st.SearchStrategy[int] | None = None, *,
                 max_dim: int = 64) -> st.SearchStrategy[np.ndarray]:
    """Unit vectors: normalised Gaussian directions, axis vectors ``±e_i``, tiny components
    (an axis vector plus perturbations below 1e-9), and components spread over 300
    orders of magnitude (the underflow cases of a naive norm).

    Parameters
    ----------
    dim : int or strategy, optional
        Dimension (default: drawn from ``1..max_dim``).

    Examples
    --------
    >>> @given(unit_vectors(3))
    ... def test_unit_norm(v):
    ...     assert abs(np.linalg.norm(v) - 1) < 1e-15
    >>> test_unit_norm()
    """
    def build(d: int) -> st.SearchStrategy[np.ndarray]:
        gaussian = hnp.arrays(np.float64, d, elements=st.floats(-10, 10, width=64)).filter(
            lambda v: np.linalg.norm(v) > 1e-3).map(_normalized)
        axis = st.tuples(st.integers(0, d - 1), st.sampled_from([1.0, -1.0])).map(
            lambda t: t[1] * np.eye(d)[t[0]])
        tiny = st.tuples(st.integers(0, d - 1), hnp.arrays(
            np.float64, d, elements=st.floats(-1e-9, 1e-9))).map(
            lambda t: _normalized(np.eye(d)[t[0]] + t[1]))
        spread = st.integers(0, 2**32 - 1).map(lambda seed: _spread(d, seed))
        return st.one_of(gaussian, axis, tiny, spread)

    return built(_dims(dim, max_dim).flatmap(build))


def _spread(d: int, seed: int) -> np.ndarray:
    """A unit vector whose components span 300 orders of magnitude (scaled before the norm)."""
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(d) * 10.0 ** rng.uniform(-300, 0, d)
    return _normalized(v / np.max(np.abs(v)))


def unit_vector_pairs(dim: int | st.SearchStrategy[int] | None = None, *,
                      max_dim: int = 64) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """Pairs ``(a, b)`` of unit vectors, including the hard cases of ``a -> b`` maps.

    Kinds: independent; nearly equal and nearly opposite (``b = ±a`` plus a
    perturbation of relative size ``1e-16 .. 1e-2``); exactly equal and opposite;
    axis-aligned (``±e_i``, ``±e_j``). Both vectors have the same dimension.

    Examples
    --------
    >>> @given(unit_vector_pairs(4))
    ... def test_shapes(pair):
    ...     assert pair[0].shape == pair[1].shape == (4,)
    >>> test_shapes()
    """
    def build(d: int) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
        vectors = unit_vectors(d)
        noise = hnp.arrays(np.float64, d, elements=st.floats(-1, 1))
        scale = st.floats(-16, -2).map(lambda e: 10.0**e)
        near = st.tuples(vectors, noise, scale, st.sampled_from([1.0, -1.0])).map(
            lambda t: (t[0], _normalized(t[3] * t[0] + t[2] * t[1])))
        exact = st.tuples(vectors, st.sampled_from([1.0, -1.0])).map(
            lambda t: (t[0], t[1] * t[0]))
        axes = st.tuples(st.integers(0, d - 1), st.integers(0, d - 1),
                         st.sampled_from([1.0, -1.0])).map(
            lambda t: (np.eye(d)[t[0]], t[2] * np.eye(d)[t[1]]))
        return st.one_of(st.tuples(vectors, vectors), near, exact, axes)

    return built(_dims(dim, max_dim).flatmap(build))


def positions(shape: int | tuple[int, ...] = 8, *, kind: str = "any",
              max_position: float = 2.0**20,
              width: Literal[16, 32, 64] = 64) -> st.SearchStrategy[np.ndarray]:
    """Arrays of token positions.

    ``kind``: ``"integer"`` (0 .. 4096), ``"real"`` (fractional, any sign, |p| <= 4096),
    ``"large"`` (integers up to ``max_position``, where float32 angles lose
    precision), or ``"any"`` (a mix). ``width=32`` keeps values exact in float32.

    Examples
    --------
    >>> @given(positions(5, kind="integer"))
    ... def test_integers(p):
    ...     assert p.shape == (5,) and np.all(p == np.round(p))
    >>> test_integers()
    """
    integer = st.integers(0, 4096).map(float)
    real = st.floats(-4096, 4096, width=width, allow_subnormal=False)
    large = st.integers(0, int(max_position)).map(float)
    elements = {"integer": integer, "real": real, "large": large,
                "any": st.one_of(integer, real, large)}[kind]
    return hnp.arrays(np.float64, shape, elements=elements)


def orthonormal_bases(dim: int | st.SearchStrategy[int] | None = None, *,
                      max_dim: int = 32) -> st.SearchStrategy[np.ndarray]:
    """Orthogonal ``d x d`` matrices: Haar-like (QR of a Gaussian, signs fixed), signed
    permutations (exact), and the identity.

    Examples
    --------
    >>> @given(orthonormal_bases(5))
    ... def test_orthogonal(Q):
    ...     assert np.allclose(Q.T @ Q, np.eye(5), atol=1e-14)
    >>> test_orthogonal()
    """
    def build(d: int) -> st.SearchStrategy[np.ndarray]:
        def haar(seed: int) -> np.ndarray:
            q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
            return q * np.where(np.diag(r) < 0, -1.0, 1.0)

        def signed_permutation(t: tuple[Any, Any]) -> np.ndarray:
            order, signs = t
            return np.eye(d)[list(order)] * np.array(signs)[:, None]

        permutation = st.tuples(st.permutations(range(d)),
                                st.lists(st.sampled_from([1.0, -1.0]), min_size=d, max_size=d))
        return st.one_of(st.integers(0, 2**32 - 1).map(haar),
                         permutation.map(signed_permutation), st.just(np.eye(d)))

    return _dims(dim, max_dim).flatmap(build)


def vmf_parameters(*, max_dim: int = 100_000, min_log_kappa: float = -10.0,
                   max_log_kappa: float = 10.0) -> st.SearchStrategy[tuple[int, float]]:
    """``(d, kappa)`` over the whole range: small ``d`` often, ``d`` up to ``max_dim``;
    ``kappa = 10^u`` with ``u`` uniform in ``[min_log_kappa, max_log_kappa]``, or 0.

    Examples
    --------
    >>> @given(vmf_parameters())
    ... def test_range(parameters):
    ...     d, kappa = parameters
    ...     assert d >= 2 and 0 <= kappa <= 1e10
    >>> test_range()
    """
    dims = st.one_of(st.sampled_from([2, 3, 4, 5]), st.integers(2, max_dim))
    kappas = st.one_of(st.just(0.0), st.floats(min_log_kappa, max_log_kappa).map(
        lambda u: float(10.0**u)))
    return st.tuples(dims, kappas)


def rope_conventions(*, max_head_dim: int = 64) -> st.SearchStrategy[RopeConvention]:
    """1-D RoPE configurations as :class:`~refimpl.testing.presets.RopeConvention`:
    head dims up to ``max_head_dim``, partial rotary blocks, bases from 100 to 1e6,
    linear position interpolation factors 1/2/4, and both layouts.

    Examples
    --------
    >>> @given(rope_conventions())
    ... def test_rotary_block_fits(convention):
    ...     assert convention.rotary_dim <= convention.head_dim
    >>> test_rotary_block_fits()
    """
    def build(t: tuple[int, int, float, str, float]) -> RopeConvention:
        pairs, extra, base, layout, factor = t
        rope_type = "default" if factor == 1.0 else "linear"
        omega, _ = scaled_inv_freq(rope_type, 2 * pairs, base,
                                   **({} if factor == 1.0 else {"factor": factor}))
        return RopeConvention(f"{rope_type}-{layout}", 2 * (pairs + extra), omega, layout,
                              parameters={"base": base, "factor": factor})

    half = max(max_head_dim // 2, 1)
    return st.tuples(st.integers(1, half), st.integers(0, half),
                     st.sampled_from([100.0, 10000.0, 500000.0, 1e6]),
                     st.sampled_from(["half", "interleaved"]),
                     st.sampled_from([1.0, 2.0, 4.0])).filter(
        lambda t: t[0] + t[1] <= half).map(build)


def transformer_configs(**fixed: Any) -> st.SearchStrategy[Any]:
    """Tiny :class:`refimpl.transformer.TransformerConfig` s covering every option.

    Sizes stay small (``d_model <= 16``, ``head_dim <= 8``, up to 2 layers, vocabulary
    up to 13) so a forward and backward pass takes milliseconds; every norm, norm
    position, activation, position scheme, RoPE layout and partial rotary width, tie
    and MLM-head choice is drawn. Keyword arguments fix fields (``positions="rope"``).

    Examples
    --------
    >>> @given(transformer_configs(n_layers=1))
    ... def test_one_layer(config):
    ...     assert config.n_layers == 1
    >>> test_one_layer()
    """
    from refimpl.transformer import ACTIVATIONS, NORM_POSITIONS, NORMS, POSITIONS, TransformerConfig

    def build(draw: Any) -> TransformerConfig:
        head_dim = 2 * draw(st.integers(1, 4))
        fields = dict(
            vocab_size=draw(st.integers(2, 13)), d_model=draw(st.integers(1, 16)),
            n_heads=draw(st.integers(1, 3)), head_dim=head_dim,
            d_ff=draw(st.integers(1, 16)), n_layers=draw(st.integers(0, 2)),
            norm=draw(st.sampled_from(NORMS)), norm_position=draw(st.sampled_from(NORM_POSITIONS)),
            activation=draw(st.sampled_from(ACTIVATIONS)),
            attention_scale=draw(st.booleans()), positions=draw(st.sampled_from(POSITIONS)),
            rope_layout=draw(st.sampled_from(["interleaved", "half"])),
            rope_base=draw(st.sampled_from([100.0, 10000.0])),
            rotary_dim=draw(st.one_of(st.none(), st.integers(1, head_dim // 2).map(
                lambda pairs: 2 * pairs))),
            max_positions=draw(st.integers(8, 32)), n_segments=draw(st.integers(0, 2)),
            bias=draw(st.booleans()), tie_output=draw(st.booleans()),
            mlm_head=draw(st.booleans()))
        fields.update(fixed)
        return TransformerConfig(**fields)

    return st.composite(build)()


def _gaussian_rows(rng: np.random.Generator, shape: tuple[int, ...], scale: float
                   ) -> np.ndarray:
    return rng.standard_normal(shape) * scale


@st.composite
def _rope_case(draw: Any, head_dim: int, rows: int, max_position: int, integer: bool) -> Case:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1.0, 1e-3, 1e3]))
    x, q, k = (_gaussian_rows(rng, (rows, head_dim), scale) for _ in range(3))
    if draw(st.booleans()):  # axis vectors: one feature at a time
        x = np.eye(head_dim)[rng.integers(0, head_dim, rows)] * scale
    position = positions(rows, kind="large", max_position=max_position)
    if not integer:
        position = st.one_of(position, positions(rows, kind="real"))
    small = positions(rows, kind="integer")
    p, m, n = draw(position), draw(small), draw(small)
    shift = draw(st.one_of(small, position))
    return Case(x=x, q=q, k=k, positions=p, m=m, n=n, shift=shift)


def rope_cases(head_dim: int, *, rows: int = 4, max_position: int = 2**16,
               integer: bool = True) -> st.SearchStrategy[Case]:
    """Inputs of the 1-D RoPE properties: ``x, q, k`` of shape ``(rows, head_dim)`` (Gaussian
    at scales 1e-3..1e3, or axis vectors) and positions of shape ``(rows,)``: ``positions``
    integers up to ``max_position`` (with ``integer=False`` also reals in [-4096, 4096]),
    ``m`` and ``n`` integers up to 4096, ``shift`` either kind.

    Examples
    --------
    >>> @given(rope_cases(8))
    ... def test_shapes(case):
    ...     assert case.x.shape == (4, 8) and case.shift.shape == (4,)
    >>> test_shapes()
    """
    return _rope_case(int(head_dim), int(rows), int(max_position), bool(integer))


@st.composite
def _rope_nd_case(draw: Any, head_dim: int, n_axes: int, rows: int, reach: float,
                  integer: bool) -> Case:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    coordinate = (st.integers(-int(reach), int(reach)).map(float) if integer
                  else st.floats(-reach, reach, allow_subnormal=False))
    grid = hnp.arrays(np.float64, (rows, n_axes), elements=coordinate)
    return Case(x=rng.standard_normal((rows, head_dim)), p=draw(grid), q=draw(grid))


def rope_nd_cases(head_dim: int, n_axes: int, *, rows: int = 3, reach: float = 40.0,
                  integer: bool = True) -> st.SearchStrategy[Case]:
    """Inputs of the N-D RoPE properties: ``x`` of shape ``(rows, head_dim)`` and positions
    ``p, q`` of shape ``(rows, n_axes)`` with coordinates in ``[-reach, reach]``
    (integers, or reals with ``integer=False``)."""
    return _rope_nd_case(int(head_dim), int(n_axes), int(rows), float(reach), bool(integer))


def map_cases(dim: int | st.SearchStrategy[int] | None = None, *,
              max_dim: int = 32) -> st.SearchStrategy[Case]:
    """Inputs of the ``a -> b`` map properties: a pair from :func:`unit_vector_pairs` and
    ``z``, three Gaussian rows (projected off span(a, b) by the complement property)."""
    def build(d: int) -> st.SearchStrategy[Case]:
        noise = hnp.arrays(np.float64, (3, d), elements=st.floats(-2, 2))
        return built(st.tuples(unit_vector_pairs(d), noise),
                     lambda t: Case(a=t[0][0], b=t[0][1], z=t[1]))

    return built(_dims(dim, max_dim).flatmap(build))


@st.composite
def _product_case(draw: Any, max_m: int) -> Case:
    m = draw(st.integers(1, max_m))
    n = draw(st.integers(1, m))
    k = draw(st.integers(1, n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    tau = rng.uniform(0.0, 2.0, k)
    if draw(st.booleans()):  # some reflectors switched off
        tau[rng.random(k) < 0.3] = 0.0
    return Case(V=rng.standard_normal((m, n)), tau=tau, noise=rng.standard_normal((m, n)))


def product_cases(*, max_m: int = 24) -> st.SearchStrategy[Case]:
    """Inputs of the Householder product properties: ``V`` of shape ``(m, n)``, ``m >= n >=
    k >= 1``, ``tau`` uniform in ``[0, 2]`` (some zero) and ``noise`` shaped like ``V``."""
    return _product_case(int(max_m))


def normalizer_cases(**options: Any) -> st.SearchStrategy[Case]:
    """``Case(d, kappa)`` from :func:`vmf_parameters` (same options)."""
    return built(vmf_parameters(**options), lambda t: Case(d=t[0], kappa=t[1]))


@st.composite
def _attention_case(draw: Any, max_length: int, max_dim: int) -> Case:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_q, n_k = draw(st.integers(1, max_length)), draw(st.integers(1, max_length))
    d, d_v = draw(st.integers(1, max_dim)), draw(st.integers(1, max_dim))
    scale = draw(st.sampled_from([1.0, 3.0]))
    q, k = rng.standard_normal((n_q, d)) * scale, rng.standard_normal((n_k, d)) * scale
    kind = draw(st.sampled_from(["all", "causal", "random"]))
    if kind == "all":
        mask = np.ones((n_q, n_k), dtype=bool)
    elif kind == "causal":
        mask = np.tril(np.ones((n_q, n_k), dtype=bool), n_k - n_q)
    else:
        mask = rng.random((n_q, n_k)) < 0.6
    cut = int(rng.integers(0, n_k + 1))
    changed = np.arange(n_k) >= cut if kind == "causal" else rng.random(n_k) < 0.5
    return Case(q=q, k=k, v=rng.standard_normal((n_k, d_v)), mask=mask, changed=changed,
                k_noise=rng.standard_normal((n_k, d)), v_noise=rng.standard_normal((n_k, d_v)))


def attention_cases(*, max_length: int = 6, max_dim: int = 8) -> st.SearchStrategy[Case]:
    """Inputs of the attention properties: ``q (n_q, d)``, ``k (n_k, d)``, ``v (n_k, d_v)``,
    a boolean ``mask`` (all keys, causal, or random with empty rows possible), the keys
    to change (``changed``; the later ones under a causal mask) and the changes."""
    return _attention_case(int(max_length), int(max_dim))


def _unit(rng: np.random.Generator, d: int) -> np.ndarray:
    v = rng.standard_normal(d)
    return v / np.linalg.norm(v)


def _vjp_case(name: str, rng: np.random.Generator) -> Case:
    args: tuple[np.ndarray, ...]
    if name == "rope.apply":
        pairs = int(rng.integers(1, 4))
        args = (rng.standard_normal((3, 2 * pairs + int(rng.integers(0, 2)))),
                rng.uniform(-4, 4, (3, pairs)))
    elif name == "householder.householder_product":
        m = int(rng.integers(1, 7))
        n = int(rng.integers(1, m + 1))
        args = (rng.standard_normal((m, n)), rng.uniform(0.2, 1.8, int(rng.integers(1, n + 1))))
    elif name == "householder.stable_map":
        d = int(rng.integers(2, 6))
        a, b = _unit(rng, d), _unit(rng, d)
        if abs(a @ b) < 0.1:  # keep away from the branch switch at a.b = 0
            b = _unit(rng, d) + a
            b /= np.linalg.norm(b)
        args = (rng.standard_normal((2, d)), a, b)
    elif name == "attention.scaled_dot_product_attention":
        n_q, n_k, d = (int(rng.integers(1, 5)) for _ in range(3))
        args = (rng.standard_normal((n_q, d)), rng.standard_normal((n_k, d)),
                rng.standard_normal((n_k, int(rng.integers(1, 4)))))
    else:
        raise ValueError(f"no argument strategy for the VJP reference {name!r}")
    return Case(**{f"arg{i}": value for i, value in enumerate(args)})


def vjp_arguments(name: str) -> st.SearchStrategy[Case]:
    """Arguments ``arg0, arg1, ...`` of a reference of
    :data:`refimpl.testing.properties.vjp.VJP_REFERENCES` (small shapes, smooth points).

    Examples
    --------
    >>> @given(vjp_arguments("rope.apply"))
    ... def test_two_arguments(case):
    ...     assert sorted(case.fields) == ["arg0", "arg1"]
    >>> test_two_arguments()
    """
    _vjp_case(name, np.random.default_rng(0))  # an unknown name fails here, not when drawn
    return built(st.integers(0, 2**32 - 1),
                 lambda seed: _vjp_case(name, np.random.default_rng(seed)))


def seeds() -> st.SearchStrategy[Case]:
    """``Case(seed=...)``: a seed for properties that draw their own inputs."""
    return built(st.integers(0, 2**32 - 1), lambda seed: Case(seed=seed))
