"""Shared cases of the reference Transformer tests: a tiny configuration, option sets
that together cover every choice, and helpers that treat a parameter tree as a list of
``(path, array)`` leaves."""

import copy

import numpy as np

from refimpl.transformer import TransformerConfig, init_params

TINY = dict(vocab_size=7, d_model=6, n_heads=2, head_dim=4, d_ff=8, n_layers=2)

# Together these cover every norm, norm position, position scheme, activation, RoPE layout,
# partial rotary, tie, MLM head, bias and scale choice, and segment embeddings; the last
# three add grouped- and multi-query heads, causality with a sliding window, the parallel
# residual, the three bias switches and the RoPE attention factor.
CONFIGS = [
    dict(norm="layernorm", norm_position="pre", positions="rope", activation="gelu",
         rotary_dim=2),
    dict(norm="rmsnorm", norm_position="post", positions="learned", activation="swiglu",
         tie_output=False, mlm_head=True, n_segments=2, max_positions=5),
    dict(norm="layernorm", norm_position="post", positions="none", activation="geglu",
         mlm_head=True, attention_scale=False, mlm_norm_eps=0.3),
    dict(norm="rmsnorm", norm_position="post", positions="rope", activation="relu",
         rope_layout="half", tie_output=False, bias=False),
    dict(norm="layernorm", norm_position="pre", positions="rope", activation="gelu_tanh",
         mlm_head=True, n_segments=3, head_dim=6, rotary_dim=4),
    dict(norm="rmsnorm", activation="swiglu", n_heads=4, n_kv_heads=2, head_dim=2,
         causal=True, sliding_window=2, bias=False, rope_layout="half",
         rope_attention_factor=1.3, tie_output=False),
    dict(parallel_residual=True, n_kv_heads=1, rotary_dim=2, rope_layout="half",
         output_bias=False, activation="gelu", causal=True, tie_output=False),
    dict(norm_position="post", positions="learned", max_positions=5, n_segments=2,
         mlm_head=True, attention_bias=False, mlp_bias=True, bias=True, n_kv_heads=1),
]


def tiny(**options):
    return TransformerConfig(**{**TINY, **options})

def leaves(tree, path=()):
    """``[(path, array)]`` for every leaf of a nested dict/list."""
    if isinstance(tree, dict):
        return [item for key in tree for item in leaves(tree[key], path + (key,))]
    if isinstance(tree, list):
        return [item for i, value in enumerate(tree) for item in leaves(value, path + (i,))]
    return [(path, tree)]

def lookup(tree, path):
    for key in path:
        tree = tree[key]
    return tree

def with_leaves(tree, paths, values):
    tree = copy.deepcopy(tree)
    for path, value in zip(paths, values, strict=True):
        lookup(tree, path[:-1])[path[-1]] = np.asarray(value, dtype=np.float64)
    return tree

def random_params(config, rng):
    """Parameters with every leaf (gains, biases too) random and of order one."""
    params = init_params(config, rng, std=0.5)
    for path, value in leaves(params):
        lookup(params, path[:-1])[path[-1]] = value + 0.3 * rng.standard_normal(value.shape)
    return params
