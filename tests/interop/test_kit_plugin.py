"""refimpl's property suite (the pytest plugin's in-file form) on real torch functions.

Skips until ``refimpl.testing.plugin`` (the property suite) is present, and without torch.
"""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
plugin = pytest.importorskip("refimpl.testing.plugin")

import interop_faults as real  # noqa: E402

from refimpl.testing.presets import hugging_face  # noqa: E402

_llama = real.llama()


def hf_llama_rope(x, positions):
    """One side of HF Llama's rotary path, fn(x, positions) on torch tensors."""
    return _llama(x, x, positions)[0]


test_torch_householder_product = plugin.householder_product_properties(
    torch.linalg.householder_product, framework="torch")

test_hf_llama_rope = plugin.rope_properties(hf_llama_rope, expect=hugging_face(64),
                                            dtype="float32", framework="torch")


def test_the_suite_fails_a_planted_fault_in_real_code_and_names_it():
    """HF Llama with its pairs reordered to (2k, 2k+1): the agreement property fails and
    the failure names the wrong layout."""
    from refimpl.testing.properties import rope as rope_properties_module

    planted = real.interleaved_llama()
    subject = rope_properties_module.rope_subject(
        lambda x, p: planted(x, x, p)[0], head_dim=64, expect=hugging_face(64),
        dtype="float32", framework="torch")
    failures = []
    for name, run in plugin.property_tests("rope", subject):
        try:
            run()
        except AssertionError as error:
            failures.append((name, str(error)))
    assert failures, "no property failed on a wrong layout"
    assert any("wrong layout" in text for _, text in failures), failures
