"""The kit on real rotary code: HF Llama, GPT-NeoX, GPT-J, Qwen2-VL, lucidrains, JAX.

Correct implementations must pass with their convention identified; wrappers planting
each catalogued fault (``interop_faults.PLANTED``) must fail with the fault named.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import interop_faults as real  # noqa: E402

from refimpl.testing import check_rope, check_rope_pair  # noqa: E402
from refimpl.testing.adapters import ForeignError  # noqa: E402
from refimpl.testing.presets import (  # noqa: E402
    gpt_j,
    hugging_face,
    lucidrains,
    qwen2_vl_mrope,
)

# float32 is what these modules compute in; 4096 positions keep each check quick
CLAIM = {"dtype": "float32", "framework": "torch", "max_position": 4096}


def _check(fn, head_dim, expect, **options):
    return check_rope_pair(fn, head_dim=head_dim, expect=expect, **{**CLAIM, **options})


def test_hf_llama_passes_as_half_layout_base_10000():
    report = _check(real.llama(), 64, hugging_face(64))
    assert report.passed, str(report)
    assert report.identified["layout"] == "half" and report.identified["base"] == 10000.0
    assert report.identified["rotary dim"] == 64


def test_hf_llama_in_bfloat16_passes_when_claimed_bfloat16():
    """Issue #18 item 1: HF keeps inv_freq in float32 and rounds cos/sin to bf16."""
    report = _check(real.llama(), 64, hugging_face(64), dtype="bfloat16")
    assert report.passed, str(report)
    assert report.identified["claimed precision"] == "inputs bfloat16, angles float32"
    assert not any("xPos" in f or "bfloat16?" in f for f in report.faults)


def test_hf_llama_claimed_float64_shows_float32_angles():
    report = _check(real.llama(), 64, hugging_face(64), dtype="float64", max_position=2**16)
    assert not report.passed
    assert any("consistent with angles computed in float32" in f for f in report.faults), \
        str(report)


def test_gpt_neox_partial_rotary_passes():
    report = _check(real.gpt_neox(0.25), 64, hugging_face(64, partial_rotary_factor=0.25))
    assert report.passed, str(report)
    assert report.identified["rotary dim"] == 16 and report.identified["rotary block"] == "[0, 16)"


def test_gpt_j_with_its_real_table():
    """Issue #18 item 3: probes stay below max_position, so the 2048-row table suffices."""
    fn = real.gpt_j()
    assert fn.table_rows == 2048
    report = _check(fn, 64, gpt_j(64, 32), max_position=fn.table_rows - 1)
    assert report.passed, str(report)
    assert report.identified["layout"] == "interleaved"
    assert report.identified["rotary block"] == "[0, 32)"
    with pytest.raises(ForeignError, match=r"(?s)RuntimeError.*index.*when called as fn\(q: "
                                           r"torch.Tensor float32.*max_position"):
        _check(fn, 64, gpt_j(64, 32), max_position=4096)


def test_qwen2_vl_mrope_passes_and_swapped_sections_are_named():
    fn, text = real.qwen2_vl()
    expect = qwen2_vl_mrope(128, text.rope_parameters["rope_theta"])
    report = _check(fn, 128, expect)
    assert report.passed, str(report)
    assert report.identified["axis of each pair"] == "0x16 1x24 2x24"
    swapped, _ = real.qwen2_vl([24, 16, 24])
    report = _check(swapped, 128, expect)
    assert any("axis assignment" in f and "expected [0x16 1x24 2x24]" in f
               for f in report.faults), str(report)


def test_lucidrains_plain_and_xpos():
    assert _check(real.lucidrains(), 64, lucidrains(64)).passed
    centred = real.lucidrains(use_xpos=True, centre=100)
    report = _check(centred, 64, lucidrains(64, use_xpos=True, xpos_center=100.0))
    assert report.passed, str(report)
    # as the library calls it, the xPos centre is len(t) // 2: the angles depend on the batch
    raw = _check(real.lucidrains(use_xpos=True), 64,
                 lucidrains(64, use_xpos=True, xpos_center=100.0))
    assert any(f.startswith("q: batch dependence") for f in raw.faults), str(raw)


def test_hf_dynamic_ntk_is_batch_dependent_and_keeps_state():
    """Issue #18 item 8: HF's dynamic NTK grows the base with the longest sequence seen and
    keeps it while later calls stay above the original length."""
    # the kit's small calls reach 8191 // 4 = 2047: below a 2048 context HF resets the base
    fn = real.llama(real.llama_config(2048, rope_type="dynamic", factor=2.0))
    faults = " ".join(_check(fn, 64, None, max_position=8191).faults)
    assert "batch dependence" in faults and "state:" not in faults
    # above a 1024 context it keeps the base grown by the larger call
    fn = real.llama(real.llama_config(1024, rope_type="dynamic", factor=2.0))
    faults = " ".join(_check(fn, 64, None, max_position=8191).faults)
    assert "batch dependence" in faults and "state:" in faults


@pytest.mark.parametrize("fault", sorted(real.PLANTED))
def test_planted_fault_is_caught_and_named(fault):
    build, expected, options, phrase = real.PLANTED[fault]
    parameters = {"rope_type": "default", "base": 10000.0, **expected}
    expect = hugging_face(64, parameters.pop("rope_type"), parameters.pop("base"), **parameters)
    report = _check(build(), 64, expect, **options)
    assert not report.passed
    assert any(phrase in f for f in report.faults), str(report)


def test_a_jax_rope_passes_and_its_interleaved_port_is_caught():
    jnp = pytest.importorskip("jax.numpy")
    inv = 1.0 / 10000.0 ** (np.arange(0, 32, 2) / 32)

    def jax_rope(x, positions, interleaved=False):
        phi = positions[:, None].astype(jnp.float32) * jnp.asarray(inv, jnp.float32)
        if interleaved:
            emb = jnp.repeat(phi, 2, axis=-1)
            turned = jnp.stack([-x[:, 1::2], x[:, ::2]], axis=-1).reshape(x.shape)
        else:
            emb = jnp.concatenate([phi, phi], axis=-1)
            turned = jnp.concatenate([-x[:, 16:], x[:, :16]], axis=-1)
        return x * jnp.cos(emb) + turned * jnp.sin(emb)

    options = {"dtype": "float32", "framework": "jax", "max_position": 4096}
    report = check_rope(jax_rope, head_dim=32, expect=hugging_face(32), **options)
    assert report.passed, str(report)
    wrong = check_rope(lambda x, p: jax_rope(x, p, True), head_dim=32, expect=hugging_face(32),
                       **options)
    assert any(f.startswith("wrong layout") for f in wrong.faults)


def test_a_torch_tensor_given_to_refimpl_gets_the_conversion_hint():
    """Issue #16: a tensor that requires grad (or holds bfloat16) used to fail with no hint."""
    from refimpl import rope

    for x in (torch.ones(2, 8, requires_grad=True), torch.ones(2, 8, dtype=torch.bfloat16)):
        with pytest.raises(TypeError, match=r"(?s)x must be array-like.*refimpl.testing.to_numpy"):
            rope.apply(x, np.zeros((2, 4)))
