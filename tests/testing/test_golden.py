"""Golden vectors: deterministic bytes, verified hashes, and outputs that reproduce."""

import hashlib
import json

import numpy as np
import pytest

from refimpl import rope
from refimpl.testing import load_vectors, write_vectors
from refimpl.testing.golden import golden_cases
from refimpl.testing.presets import EXAMPLE_SETTINGS, PRESETS


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    first, second = tmp_path_factory.mktemp("first"), tmp_path_factory.mktemp("second")
    return write_vectors(first), first, second, write_vectors(second)


def test_two_runs_are_byte_identical(written):
    _, first, second, _ = written
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    assert "manifest.json" in names and len(names) > 30
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_manifest_hashes_verify_and_describe_every_case(written):
    manifest, first, _, _ = written
    assert manifest["refimpl_version"] and manifest["format"] == 2
    for entry in manifest["cases"]:
        data = (first / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert set(entry) >= {"inputs", "outputs", "parameters", "tolerance", "function"}
    on_disk = json.loads((first / "manifest.json").read_text())
    assert on_disk == manifest


def test_round_trip(written):
    _, first, _, _ = written
    loaded = load_vectors(first)
    for case in golden_cases():
        stored = loaded[case.name]
        assert stored.function == case.function
        for key, value in {**case.inputs, **case.outputs}.items():
            got = stored.inputs.get(key, stored.outputs.get(key))
            np.testing.assert_array_equal(got, value)


def test_stored_outputs_reproduce_from_stored_inputs(written):
    """The vectors mean what the manifest says: recompute a few from their inputs."""
    loaded = load_vectors(written[1])
    case = loaded["rope.apply.half.rotary8"]
    y = rope.apply(case.inputs["x"], case.inputs["angles"], layout="half", rotary_dim=8)
    np.testing.assert_allclose(y, case.outputs["y"], rtol=case.rtol, atol=case.atol)
    for name in PRESETS:
        case = loaded[f"rope.preset.{name}"]
        convention = PRESETS[name](**EXAMPLE_SETTINGS[name])
        np.testing.assert_allclose(convention(case.inputs["x"], case.inputs["positions"]),
                                   case.outputs["y"], rtol=case.rtol, atol=case.atol)


def test_covers_every_landed_module(written):
    names = [entry["name"] for entry in written[0]["cases"]]
    for prefix in ("rope.apply.", "rope.apply_vjp.", "rope.schedule.yarn", "rope.preset.qwen2-vl",
                   "householder.householder_product", "householder.stable_map",
                   "vmf.log_normalizer", "transformer.forward", "norms.", "attention.",
                   "similarity.", "mixers.", "dimension.", "activations."):
        assert any(name.startswith(prefix) for name in names), prefix


def test_tampered_file_is_rejected(tmp_path):
    write_vectors(tmp_path)
    target = tmp_path / "householder.reflect.npz"
    data = bytearray(target.read_bytes())
    data[-30] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="householder.reflect.npz.*sha256"):
        load_vectors(tmp_path)


def test_missing_manifest_or_file_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="manifest.json"):
        load_vectors(tmp_path)
    write_vectors(tmp_path)
    (tmp_path / "vmf.entropy.npz").unlink()
    with pytest.raises(ValueError, match="vmf.entropy.npz.*missing"):
        load_vectors(tmp_path)


def test_transformer_vector_reproduces_from_its_stored_parameters(written):
    from refimpl import transformer
    from refimpl.masks import causal_mask

    case = load_vectors(written[1])["transformer.forward.causal"]
    config = transformer.TransformerConfig(**case.parameters["config"])
    params = transformer.init_params(config, rng=0)

    def fill(tree, prefix):
        for key in (tree if isinstance(tree, dict) else range(len(tree))):
            name = f"{prefix}.{key}"
            if isinstance(tree[key], (dict, list)):
                fill(tree[key], name)
            else:
                tree[key] = case.inputs[name]

    fill(params, "params")
    logits, _ = transformer.forward(params, config, case.inputs["tokens"], causal_mask(6))
    np.testing.assert_allclose(logits, case.outputs["logits"], rtol=case.rtol, atol=case.atol)


def test_shapes_are_exact_and_positions_are_integers(written):
    """0-d outputs stay 0-d (issue #18: the manifest said [] and the file held (1,))."""
    manifest, first, _, _ = written
    loaded = load_vectors(first)
    entries = {entry["name"]: entry for entry in manifest["cases"]}
    assert entries["rope.schedule.yarn"]["outputs"]["attention_factor"]["shape"] == []
    assert loaded["rope.schedule.yarn"].outputs["attention_factor"].shape == ()
    assert loaded["similarity.cosent_loss"].outputs["loss"].shape == ()
    for name, case in loaded.items():
        if "positions" in case.inputs:
            assert case.inputs["positions"].dtype == np.int64, name


def test_parameters_are_complete(written):
    params = {e["name"]: e["parameters"] for e in written[0]["cases"]}
    hf = params["rope.preset.hf-default"]
    assert hf["base"] == 10000.0 and hf["head_dim"] == 64 and hf["rotary_dim"] == 64
    assert hf["layout"] == "half" and hf["position_offset"] == [0.0]
    assert params["rope.preset.gpt-j"]["rotary_dim"] == 32


def test_tolerances_per_dtype_follow_the_stated_error_model(written):
    manifest = written[0]
    assert "SAFETY" in manifest["error_model"]
    eps = {"float64": 2.0**-52, "float32": 2.0**-23, "bfloat16": 2.0**-7}
    for entry in manifest["cases"]:
        tolerance = entry["tolerance"]
        assert tolerance["size_rule"] and tolerance["size"] >= 1
        for dtype, e in eps.items():
            assert tolerance[dtype]["rtol"] == pytest.approx(16 * e * tolerance["size"])
            assert tolerance[dtype]["atol"] == pytest.approx(tolerance[dtype]["rtol"]
                                                             * tolerance["scale"])
        assert tolerance["rtol"] == tolerance["float64"]["rtol"]


def test_a_float32_port_meets_the_float32_tolerance_and_not_the_float64_one(written):
    """Issue #18: a float32 HF-style RoPE missed the float64 tolerance by 4.6e-6 and had no
    tolerance of its own to meet."""
    from kit_standins import default_inv_freq, numpy_rope

    case = load_vectors(written[1])["rope.preset.hf-default"]
    rope32 = numpy_rope(default_inv_freq(64), angle_dtype=np.float32)
    x = case.inputs["x"].astype(np.float32).astype(np.float64)
    y = rope32(x, case.inputs["positions"])
    error = np.abs(y - case.outputs["y"])
    for dtype, meets in (("float32", True), ("float64", False)):
        tol = case.tolerance(dtype)
        assert bool(np.all(error <= tol["atol"] + tol["rtol"] * np.abs(case.outputs["y"]))) \
            is meets, dtype


def test_shape_or_dtype_differing_from_the_manifest_is_rejected(tmp_path):
    manifest = write_vectors(tmp_path)
    entry = next(e for e in manifest["cases"] if e["name"] == "rope.schedule.yarn")
    entry["outputs"]["attention_factor"]["shape"] = [1]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="rope.schedule.yarn.npz.*attention_factor.*shape"):
        load_vectors(tmp_path)
