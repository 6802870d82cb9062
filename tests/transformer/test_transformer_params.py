"""The parameter tree of the reference Transformer (refimpl/transformer/params.py):
init_params, the naming table of param_shapes, and check_params' rejection of a
non-finite entry."""

import numpy as np
import pytest
from transformer_cases import CONFIGS, leaves, lookup, random_params, tiny

from refimpl.transformer import forward, init_params, param_shapes


def test_init_params():
    config = tiny(**CONFIGS[1])
    a, b = init_params(config, rng=3), init_params(config, rng=3)
    for (path, x), (_, y) in zip(leaves(a), leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
        assert x.shape == lookup(param_shapes(config), path)
    assert np.all(a["layers"][0]["attn_norm"]["gain"] == 1.0)
    assert np.all(a["layers"][0]["ffn"]["b_up"] == 0.0)
    big = init_params(tiny(vocab_size=400, d_model=50), rng=0, std=0.1)
    assert np.std(big["embedding"]["tokens"]) == pytest.approx(0.1, rel=0.02)

def test_param_table_names():
    shapes = param_shapes(tiny(activation="swiglu", tie_output=False, head_dim=5,
                               positions="learned", norm_position="post"))
    layer = shapes["layers"][1]
    assert layer["attn"]["wq"] == (6, 10) and layer["attn"]["wo"] == (10, 6)
    assert layer["ffn"]["w_gate"] == (6, 8) and layer["ffn"]["w_down"] == (8, 6)
    assert shapes["output"] == {"w": (6, 7), "b": (7,)}
    assert "embedding_norm" in shapes and "final_norm" not in shapes
    assert set(shapes["layers"][0]["attn_norm"]) == {"gain", "bias"}

def test_non_finite_parameter_is_rejected_by_name():
    config = tiny()
    params = random_params(config, np.random.default_rng(3))
    params["layers"][0]["ffn"]["w_up"][0, 0] = np.nan
    with pytest.raises(ValueError,
                       match=r"params\['layers'\]\[0\]\['ffn'\]\['w_up'\] must be finite"):
        forward(params, config, [1, 2])
