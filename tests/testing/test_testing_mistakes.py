"""Catalogue of user mistakes with the conformance kit (issue #16): each raises the right
exception with a message naming the argument and, where a PyTorch/HF habit explains it,
the fix; and unusual but valid inputs that must work."""

import numpy as np
import pytest
from kit_standins import default_inv_freq, numpy_rope, table_rope

from refimpl._validation import as_float_array
from refimpl.testing import check_rope, check_rope_pair, check_vjp, load_vectors, to_numpy
from refimpl.testing.adapters import ForeignError
from refimpl.testing.presets import hugging_face

ROPE = numpy_rope(default_inv_freq(8))


class FakeGradTensor:
    """Like a torch tensor that requires grad: NumPy conversion refuses it."""

    def __array__(self, dtype=None, copy=None):
        raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                           "tensor.detach().numpy() instead.")


FakeGradTensor.__module__ = "torch"


def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
    return q, k


MISTAKES = [
    # (call, exception, regex on the message)
    (lambda: check_rope(lambda q, k, positions: (q, k), head_dim=8), TypeError,
     r"fn\(x, positions\).*use check_rope_pair"),
    (lambda: check_rope(apply_rotary_pos_emb, head_dim=8), TypeError,
     r"apply_rotary_pos_emb\(q, k, cos, sin.*cos_sin_pair\(apply_rotary_pos_emb, rotary_emb\)"),
    (lambda: check_rope_pair(ROPE, head_dim=8), TypeError,
     r"fn\(q, k, positions\).*for fn\(x, positions\) use check_rope"),
    (lambda: check_rope_pair(lambda q, k, p: ROPE(q, p), head_dim=8), TypeError,
     r"must return \(q_rot, k_rot\), got ndarray"),
    (lambda: check_rope(lambda x, p: x[:, :4], head_dim=8), ValueError,
     r"fn returned shape \(\d+, 4\) for x of shape \(\d+, 8\).*check_rope_pair"),
    (lambda: check_rope(lambda x, p: x.float(), head_dim=8), ForeignError,
     r"(?s)AttributeError.*fn\(x: numpy.ndarray float64.*framework='torch'"),
    (lambda: check_rope(table_rope(8, 64), head_dim=8, max_position=100), ForeignError,
     r"(?s)IndexError.*max_position below the table's length"),
    (lambda: check_rope(ROPE, head_dim=8, dtype="fp32"), ValueError, r"dtype.*fp32"),
    (lambda: check_rope(ROPE, head_dim=8, angle_dtype="half"), ValueError, r"angle_dtype.*half"),
    (lambda: check_rope(ROPE, head_dim=8, tensor_layout="BSHD"), ValueError,
     r"tensor_layout.*BSHD"),
    (lambda: check_rope(ROPE, head_dim=8, max_position=0), ValueError, r"max_position"),
    (lambda: check_vjp(np.sin, lambda g, x: g * np.cos(x), np.zeros(3)), TypeError,
     r"args must be a list or tuple with one array per argument.*\[x\] for fn\(x\)"),
    (lambda: check_vjp(np.sin, lambda x: np.cos(x), [np.zeros(3)]), TypeError,
     r"fn_vjp must be callable as fn_vjp\(cotangent, args\[0\]\).*form='grad'"),
    (lambda: check_vjp(np.sin, np.cos, [np.zeros(3)], form="jvp"), ValueError, r"form.*jvp"),
    (lambda: as_float_array(FakeGradTensor(), "x"), TypeError,
     r"x must be array-like.*requires grad.*refimpl.testing.to_numpy\(x\)"),
    (lambda: load_vectors("/nonexistent/golden"), ValueError, r"directory=.*manifest.json"),
]


@pytest.mark.parametrize("call, kind, pattern", MISTAKES,
                         ids=[f"mistake{i}" for i in range(len(MISTAKES))])
def test_mistake_raises_a_message_that_names_the_fix(call, kind, pattern):
    with pytest.raises(kind, match=pattern):
        call()


def test_unusual_but_valid_inputs():
    # a RoPE returning a list of lists, ints for head_dim given as numpy ints
    as_lists = lambda x, p: ROPE(x, p).tolist()
    assert check_rope(as_lists, head_dim=np.int64(8), expect=hugging_face(8),
                      max_position=64).passed
    # the smallest max_position still probes and passes
    assert check_rope(ROPE, head_dim=8, expect=hugging_face(8), max_position=1).passed
    # a tuple of args, 0-d arguments, and a scalar-output function for check_vjp
    report = check_vjp(lambda a, b: a * b, lambda g, a, b: (g * b, g * a),
                       (np.float64(2.0), 3), reference=(lambda a, b: a * b,
                                                        lambda g, a, b: (g * b, g * a)))
    assert report.passed, str(report)
    # to_numpy keeps list/tuple structure and turns ints into float64
    converted = to_numpy((1, [2, 3]))
    assert isinstance(converted, tuple) and isinstance(converted[1], list)
    assert converted[1][0].dtype == np.float64 and converted[1][0].shape == ()
