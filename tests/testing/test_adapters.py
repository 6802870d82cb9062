"""Array adapters, with fake ``torch`` and ``jax`` modules standing in for the frameworks."""

import sys
import types

import numpy as np
import pytest

from refimpl.testing import adapters
from refimpl.testing.adapters import as_numpy_function, framework_of, from_numpy, to_numpy


class FakeTensor:
    """Mimics the few torch.Tensor methods the adapter uses."""

    def __init__(self, array):
        self.array = np.asarray(array)

    def detach(self):
        return self

    def cpu(self):
        return self

    def numpy(self):
        return self.array

    def double(self):
        return FakeTensor(self.array.astype(np.float64))

    def to(self, dtype):
        if dtype == "bfloat16":
            return FakeBFloat16Tensor(self.array.astype(np.float32))
        return FakeTensor(self.array.astype(dtype))

    @property
    def shape(self):
        return self.array.shape

    @property
    def dtype(self):
        return f"torch.{self.array.dtype}"

    def __mul__(self, other):
        return FakeTensor(self.array * (other.array if isinstance(other, FakeTensor) else other))


FakeTensor.__module__ = "torch"


class FakeBFloat16Tensor(FakeTensor):
    """A bfloat16 tensor: torch's ``.numpy()`` refuses it (no NumPy bfloat16)."""

    def numpy(self):
        raise TypeError("Got unsupported ScalarType BFloat16")


FakeBFloat16Tensor.__module__ = "torch"


class FakeJaxArray(np.ndarray):
    pass


FakeJaxArray.__module__ = "jaxlib.xla_extension"


@pytest.fixture
def fake_frameworks(monkeypatch):
    torch = types.ModuleType("torch")
    torch.from_numpy = FakeTensor
    torch.float32, torch.float16, torch.bfloat16 = np.float32, np.float16, "bfloat16"
    jax = types.ModuleType("jax")
    jax.numpy = types.SimpleNamespace(
        asarray=lambda a, dtype=None: np.asarray(a, dtype=dtype).view(FakeJaxArray))
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "jax", jax)
    return torch, jax


def test_detection_needs_no_import():
    before = set(sys.modules)
    assert framework_of(FakeTensor([1.0])) == "torch"
    assert framework_of(np.zeros(2).view(FakeJaxArray)) == "jax"
    assert framework_of([1, 2]) == "numpy" and framework_of(3.0) == "numpy"
    assert not {"torch", "jax"} & (set(sys.modules) - before)


def test_round_trip_through_fake_frameworks(fake_frameworks):
    data = np.array([[0.1, 2.0]])
    tensor = from_numpy(data, "torch", "float32")
    assert framework_of(tensor) == "torch" and tensor.array.dtype == np.float32
    back = to_numpy(tensor)
    assert back.dtype == np.float64 and np.allclose(back, data, rtol=1e-7)
    jax_array = from_numpy(data, "jax")
    assert framework_of(jax_array) == "jax"
    np.testing.assert_array_equal(to_numpy((jax_array, [tensor]))[0], data)


def test_wrapped_foreign_function_sees_framework_arrays(fake_frameworks):
    seen = []

    def torch_function(x, n):
        seen.append((type(x).__name__, n))
        return x * 2.0, x

    doubled, same = as_numpy_function(torch_function, "torch")(np.arange(3.0), 5)
    assert seen == [("FakeTensor", 5)]
    np.testing.assert_array_equal(doubled, [0.0, 2.0, 4.0])
    assert isinstance(same, np.ndarray)


def test_integer_arrays_keep_their_type():
    positions = from_numpy(np.arange(4), "numpy", "float32")
    assert positions.dtype.kind == "i"


def test_missing_framework(monkeypatch):
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    monkeypatch.setattr(adapters.importlib.util, "find_spec", lambda name: None)
    assert not adapters.framework_available("jax")
    with pytest.raises(ModuleNotFoundError, match="jax"):
        from_numpy(np.zeros(2), "jax")


def test_unknown_framework_raises():
    with pytest.raises(ValueError, match="framework"):
        from_numpy(np.zeros(2), "tensorflow")


def test_check_rope_through_a_fake_torch_function(fake_frameworks):
    """End to end: the check converts to 'torch' (cast to float32) and back."""
    from kit_standins import default_inv_freq, numpy_rope

    from refimpl.testing import check_rope, preset
    rope = numpy_rope(default_inv_freq(16))
    seen = set()

    def torch_rope(x, positions):
        seen.add((type(x).__name__, x.array.dtype.name, type(positions).__name__))
        return FakeTensor(rope(x.array, positions.array).astype(np.float32))

    report = check_rope(torch_rope, head_dim=16, expect=preset("hf-default", head_dim=16),
                        framework="torch", dtype="float32", max_position=1024)
    assert report.passed, str(report)
    assert seen == {("FakeTensor", "float32", "FakeTensor")}


def test_bfloat16_tensors_in_and_out(fake_frameworks):
    """Users check bf16 RoPE code: the cast to bfloat16 happens in the framework (NumPy
    has none), and bf16 outputs (which torch's ``.numpy()`` refuses) are read as float64."""
    tensor = from_numpy(np.array([0.5, 2.0]), "torch", "bfloat16")
    assert isinstance(tensor, FakeBFloat16Tensor)
    assert to_numpy(tensor).tolist() == [0.5, 2.0]
    assert from_numpy(np.array([0.5]), "jax", "float32").dtype == np.float32


def test_describe_call_names_types_dtypes_and_shapes(fake_frameworks):
    from refimpl.testing.adapters import describe_call

    text = describe_call("fn(x, positions)", [FakeTensor(np.zeros((2, 4), np.float32)),
                                             np.arange(2)])
    assert text == "fn(x: torch.FakeTensor float32 (2, 4), positions: numpy.ndarray int64 (2,))"


def test_foreign_exceptions_are_wrapped_with_the_call_and_a_hint():
    from refimpl.testing.adapters import ForeignError

    def torch_only(x):
        return x.float()

    wrapped = as_numpy_function(torch_only, call="fn(x)")
    with pytest.raises(ForeignError, match=r"(?s)torch_only raised AttributeError.*fn\(x: "
                                           r"numpy.ndarray float64 \(3,\)\).*framework='torch'"
                       ) as caught:
        wrapped(np.zeros(3))
    assert isinstance(caught.value.__cause__, AttributeError)


def test_signature_is_checked_before_the_first_call():
    with pytest.raises(TypeError, match=r"fn must be callable as fn\(x, positions\), got "
                                        r"apply_rotary_pos_emb\(q, k, cos, sin.*use this"):
        def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
            return q, k
        as_numpy_function(apply_rotary_pos_emb, call="fn(x, positions)", hint="use this",
                          arity=2)
    as_numpy_function(np.sin, arity=1)  # ufuncs without a signature are let through


def test_rows_as_tensor_both_layouts():
    from refimpl.testing.adapters import rows_as_tensor

    shapes = []

    def four_d(x, positions):
        shapes.append((x.shape, positions.shape))
        heads_first = x.shape[1] == 1  # BHTD with one head
        return x + (positions[:, None, :, None] if heads_first else positions[:, :, None, None])

    x, p = np.ones((5, 4)), np.arange(5)
    np.testing.assert_array_equal(rows_as_tensor(four_d, "BHTD")(x, p), x + p[:, None])
    np.testing.assert_array_equal(rows_as_tensor(four_d, "BTHD")(x, p), x + p[:, None])
    assert shapes == [((1, 1, 5, 4), (1, 5)), ((1, 5, 1, 4), (1, 5))]
    q_rot, k_rot = rows_as_tensor(lambda q, k, p: (q, 2 * k), pair=True)(x, x, p)
    assert q_rot.shape == k_rot.shape == (5, 4) and k_rot[0, 0] == 2.0
    with pytest.raises(ValueError, match="tensor_layout"):
        rows_as_tensor(four_d, "rows")


def test_cos_sin_pair_with_mrope_position_ids():
    from refimpl.testing.adapters import cos_sin_pair

    seen = {}

    def tables(x, ids):
        seen["ids"] = ids.shape
        return np.ones(x.shape[-1]), np.zeros(x.shape[-1])

    pair = cos_sin_pair(lambda q, k, c, s: (q * c, k * c), tables,
                        position_ids=lambda p: p.T[:, None])
    q_rot, _ = pair(np.ones((4, 8)), np.ones((4, 8)), np.zeros((4, 3), dtype=int))
    assert seen["ids"] == (3, 1, 4) and q_rot.shape == (4, 8)
