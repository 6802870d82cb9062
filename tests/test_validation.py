"""The shared input checks raise the documented errors and pass good input through."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from refimpl import _validation as v


@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=3),
                  elements=st.floats(-1e300, 1e300)))
def test_as_float_array_keeps_values(x):
    out = v.as_float_array(x.tolist(), "x")
    assert out.dtype == np.float64 and np.array_equal(out, x)


class Wrapped:
    def __array__(self, dtype=None, copy=None):
        return np.array([1, 2, 3])


def test_as_float_array_accepts_array_protocol_and_ints():
    assert v.as_float_array(Wrapped(), "x").dtype == np.float64
    assert v.as_float_array(np.arange(3, dtype=np.int8), "x").tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("bad", ["abc", [1 + 2j], {"a": 1}, [[1, 2], [3]]])
def test_as_float_array_type_errors(bad):
    with pytest.raises(TypeError, match="^x must"):
        v.as_float_array(bad, "x")


def test_as_float_array_rejects_nonfinite():
    with pytest.raises(ValueError, match="x must be finite, got a value nan"):
        v.as_float_array([1.0, np.nan], "x")
    assert np.isinf(v.as_float_array([np.inf], "x", allow_nonfinite=True)[0])


def test_last_axis_checks():
    x = np.zeros((2, 7))
    assert v.check_last_axis(x, "x") == 7
    with pytest.raises(ValueError, match="x must have an even last dimension, got 7"):
        v.check_last_axis(x, "x", even=True)
    with pytest.raises(ValueError, match=r"x must have last dimension 8, got shape \(2, 7\)"):
        v.check_last_axis(x, "x", size=8)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        v.check_last_axis(np.float64(1.0), "x")


@given(st.integers(1, 64), st.integers(0, 2**32 - 1))
def test_unit_norm_accepts_normalised_vectors(d, seed):
    x = np.random.default_rng(seed).standard_normal((3, d))
    v.check_unit_norm(x / np.linalg.norm(x, axis=-1, keepdims=True), "a")


def test_unit_norm_rejects():
    with pytest.raises(ValueError, match="a must be unit vectors"):
        v.check_unit_norm(np.array([1.0, 1e-4]), "a")
    with pytest.raises(ValueError, match="a must be unit vectors"):
        v.check_unit_norm(np.array([1.0, 0.0], dtype=np.float32) * np.float32(1 + 1e-7) + 1e-9, "a")


def test_scalars():
    assert v.as_scalar(np.float64(2.5), "base", positive=True) == 2.5
    with pytest.raises(ValueError, match="kappa must be non-negative, got kappa=-1.0"):
        v.as_scalar(-1, "kappa", nonnegative=True)
    with pytest.raises(ValueError, match="base must be greater than 1"):
        v.as_scalar(1.0, "base", greater_than=1.0)
    with pytest.raises(ValueError, match="kappa must be finite"):
        v.as_scalar(float("inf"), "kappa")
    with pytest.raises(TypeError, match="factor must be a real number"):
        v.as_scalar("2", "factor")
    with pytest.raises(TypeError, match="factor must be a real number"):
        v.as_scalar(True, "factor")
    with pytest.raises(ValueError, match="scale must be positive"):
        v.as_scalar(0, "scale", positive=True)


def test_integers():
    assert v.as_int(4.0, "d") == 4 and v.as_int(np.int64(3), "d") == 3
    with pytest.raises(TypeError, match="d must be an integer"):
        v.as_int(2.5, "d")
    with pytest.raises(TypeError, match="d must be an integer"):
        v.as_int(True, "d")
    with pytest.raises(ValueError, match="d must be at least 2, got d=1"):
        v.as_int(1, "d", minimum=2)


def test_choice_and_broadcast():
    assert v.check_choice("half", "layout", ("interleaved", "half")) == "half"
    with pytest.raises(ValueError, match="layout must be one of 'interleaved', 'half', got 'x'"):
        v.check_choice("x", "layout", ("interleaved", "half"))
    with pytest.raises(ValueError, match=r"shapes do not broadcast: x \(2, 3\), mu \(4,\)"):
        v.broadcast_batch(x=(2, 3), mu=(4,))


def test_generators():
    assert isinstance(v.as_generator(None), np.random.Generator)
    g = np.random.default_rng(1)
    assert v.as_generator(g) is g
    assert v.as_generator(5).random() == np.random.default_rng(5).random()
    with pytest.raises(TypeError, match="rng must be"):
        v.as_generator(np.random.RandomState(0))
    with pytest.raises(TypeError, match="rng must be"):
        v.as_generator(True)
