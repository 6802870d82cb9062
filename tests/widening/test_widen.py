"""The front door and compositions of moves."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from widening_cases import (
    TOL,
    assert_valid,
    configs,
    equivalence_error,
    factors,
    many_examples,
    model_inputs,
    random_params,
    seeds,
)

from refimpl.transformer import TransformerConfig
from refimpl.widening import (
    add_heads,
    add_layers,
    duplicate_heads,
    grow_head_dim,
    split_ffn,
    widen,
    widen_hidden,
)

MOVES = {
    "su": lambda p, c, r: widen_hidden(p, c, 2, noise=0.2, rng=r),
    "su_frequencies": lambda p, c, r: widen_hidden(p, c, 2, rope_method="repeat_frequencies"),
    "heads": lambda p, c, r: duplicate_heads(p, c, 2, noise=0.2, rng=r),
    "ffn": lambda p, c, r: split_ffn(p, c, c.d_ff + 2, noise=0.2, rng=r),
    "add_heads": lambda p, c, r: add_heads(p, c, c.n_heads + 1, std=0.5, rng=r),
    "head_dim": lambda p, c, r: grow_head_dim(p, c, 2 * c.head_dim, std=0.5, rng=r),
    "layers": lambda p, c, r: add_layers(p, c, c.n_layers + 1, std=0.5, rng=r),
}


@many_examples
@given(configs(), st.lists(st.sampled_from(sorted(MOVES)), min_size=2, max_size=3), seeds)
def test_every_composition_of_moves_preserves_logits(config, moves, seed):
    if config.norm_position == "post":
        moves = [move for move in moves if move != "layers"]
    small = (random_params(config, seed), config)
    wide = small
    for move in moves:
        wide = MOVES[move](*wide, seed)
    assert_valid(*wide)
    assert equivalence_error(small, wide, model_inputs(config, seed)) <= TOL


@many_examples
@given(configs(), factors, st.sampled_from(["duplicate_heads", "su"]), st.data(), seeds)
def test_widen_reaches_its_targets_exactly(config, k, method, data, seed):
    d_ff = k * config.d_ff + data.draw(st.integers(0, 3))
    head_dim = (k if method == "su" else 1) * config.head_dim * data.draw(st.integers(1, 2))
    n_heads = (k if method == "duplicate_heads" else 1) * config.n_heads + \
        data.draw(st.integers(0, 2))
    n_layers = config.n_layers + (data.draw(st.integers(0, 2))
                                  if config.norm_position == "pre" else 0)
    small = (random_params(config, seed), config)
    wide = widen(*small, d_model=k * config.d_model, n_heads=n_heads, head_dim=head_dim,
                 d_ff=d_ff, n_layers=n_layers, method=method, noise=0.1, std=0.5, rng=seed)
    assert_valid(*wide)
    assert (wide[1].d_model, wide[1].n_heads, wide[1].head_dim, wide[1].d_ff,
            wide[1].n_layers) == (k * config.d_model, n_heads, head_dim, d_ff, n_layers)
    assert equivalence_error(small, wide, model_inputs(config, seed)) <= TOL


_CONFIG = TransformerConfig(vocab_size=7, d_model=4, n_heads=2, head_dim=4, d_ff=4,
                            n_layers=1)


@pytest.mark.parametrize("targets, match", [
    (dict(d_model=6), "d_model must grow by an integer factor"),
    (dict(d_model=2), "d_model=2 would shrink"),
    (dict(d_model=8, d_ff=6), "d_ff=6 would shrink the model \\(d_ff is 8 after"),
    (dict(d_model=8, method="su", head_dim=4), "head_dim=4 would shrink"),
    (dict(d_model=8, n_heads=2), "n_heads=2 would shrink"),
    (dict(head_dim=6), "frequency grid"),
    (dict(n_layers=0), "n_layers=0 would shrink"),
    (dict(method="bert2bert"), "method"),
    # checked even when no move uses them
    (dict(noise=-1.0), "noise"),
    (dict(std=-1.0), "std"),
    (dict(rope_method="elementwise"), "rope_method"),
    (dict(scaling="none"), "scaling"),
])
def test_impossible_targets_are_refused(targets, match):
    with pytest.raises(ValueError, match=match):
        widen(random_params(_CONFIG, 0), _CONFIG, **targets)


@pytest.mark.parametrize("rope_method", ["zero_offgrid", "repeat_frequencies", "pairwise"])
def test_rope_method_is_refused_where_it_would_be_ignored(rope_method):
    # Head duplication keeps RoPE as it is and never reads rope_method: passing one must
    # not look as if it had been applied.
    params = random_params(_CONFIG, 0)
    with pytest.raises(ValueError, match="rope_method.*method='su'.*duplicate_heads"):
        widen(params, _CONFIG, d_model=8, rope_method=rope_method)
    with pytest.raises(ValueError, match="rope_method"):
        widen(params, _CONFIG, method="duplicate_heads", rope_method=rope_method)
    wide = widen(params, _CONFIG, d_model=8, method="su", rope_method=rope_method)
    assert wide[1].head_dim == 2 * _CONFIG.head_dim


def test_post_ln_depth_is_refused_before_any_work():
    config = dataclasses.replace(_CONFIG, norm_position="post")
    with pytest.raises(ValueError, match="norm_position='pre'"):
        widen(random_params(config, 0), config, d_model=8, n_layers=2)


def test_no_targets_is_the_identity():
    params = random_params(_CONFIG, 0)
    same, config = widen(params, _CONFIG)
    assert config == _CONFIG and same is not params
    assert equivalence_error((params, _CONFIG), (same, config), model_inputs(_CONFIG, 1)) == 0
