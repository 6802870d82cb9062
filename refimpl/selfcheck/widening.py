"""Self-checks of function-preserving growth (:mod:`refimpl.widening`).

One row per move: the property ``widening.preserves_function`` of
:mod:`refimpl.testing.properties.widening` (the relative logit change
``max |wide - small| / max(1, |small|)`` within ``16 eps 256 = 9.1e-13``) over a handful
of random models (both norm positions, LayerNorm and RMSNorm, plain and gated FFNs,
RoPE/learned positions, tied/untied output, MLM head). Two counterexample rows pass
only when the inexact schemes *are* inexact: the post's verbatim table (FFN output bias
``b/k``) and its pairwise RoPE repetition must move the logits by more than 1e-3 while
the corrected scheme preserves them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from refimpl.selfcheck._core import Check, CheckResult, from_properties
from refimpl.testing.properties import Case
from refimpl.testing.properties.widening import WideningSubject, preserves_function
from refimpl.transformer import TransformerConfig, forward, init_params
from refimpl.widening import (
    add_heads,
    add_layers,
    duplicate_heads,
    grow_head_dim,
    split_ffn,
    widen,
    widen_hidden,
)

#: A model: its parameters and configuration.
Model = tuple[dict[str, Any], TransformerConfig]

_BASE: dict[str, Any] = dict(vocab_size=7, d_model=4, n_heads=2, head_dim=4, d_ff=6,
                             n_layers=2, max_positions=8)
_CONFIGS = [
    TransformerConfig(**_BASE, norm_position="pre", activation="gelu", positions="rope"),
    TransformerConfig(**_BASE, norm_position="post", activation="relu", positions="learned",
                      tie_output=False, mlm_head=True),
    TransformerConfig(**_BASE, norm="rmsnorm", norm_position="pre", activation="swiglu",
                      positions="rope", rope_layout="half", attention_scale=False,
                      mlm_head=True),
]


def _model(config: TransformerConfig, rng: np.random.Generator) -> dict[str, Any]:
    """Random weights with nonzero biases and gains away from 1."""
    params = init_params(config, rng, std=0.5)

    def randomize(tree: Any) -> None:
        for key, value in (tree.items() if isinstance(tree, dict) else enumerate(tree)):
            if isinstance(value, (dict, list)):
                randomize(value)
            elif value.ndim == 1:
                tree[key] = (key == "gain") + 0.4 * rng.standard_normal(value.shape)

    randomize(params)
    return params


def _logits(model: Model) -> Callable[[np.ndarray], np.ndarray]:
    params, config = model
    return lambda tokens: forward(params, config, tokens)[0]


def _preserved(small: Model, wide: Model, rng: np.random.Generator) -> Any:
    """widening.preserves_function of the pair on two random token sequences."""
    tokens = rng.integers(0, small[1].vocab_size, (2, 6))
    subject = WideningSubject(_logits(small), _logits(wide))
    return preserves_function(subject, Case(x=tokens))


Move = Callable[[dict[str, Any], TransformerConfig, np.random.Generator], Model]


def _move_row(move: Move, configs: list[TransformerConfig] = _CONFIGS
              ) -> Callable[[np.random.Generator], CheckResult]:
    def run(rng: np.random.Generator) -> CheckResult:
        results = []
        for config in configs:
            small = (_model(config, rng), config)
            results.append(_preserved(small, move(*small, rng), rng))
        return from_properties(results)
    return run


def _counterexample(inexact: Callable[[dict[str, Any], TransformerConfig], Model],
                    exact: Callable[[dict[str, Any], TransformerConfig], Model],
                    configs: list[TransformerConfig]
                    ) -> Callable[[np.random.Generator], CheckResult]:
    """Passes when ``inexact`` moves the logits by > 1e-3 and ``exact`` preserves them."""
    def run(rng: np.random.Generator) -> CheckResult:
        results = []
        for config in configs:
            small = (_model(config, rng), config)
            gap = _preserved(small, inexact(*small), rng).measured
            result = _preserved(small, exact(*small), rng)
            results.append(result if gap >= 1e-3 else result.with_faults(
                (f"the inexact scheme moved the logits by only {gap:.2g}",)))
        row = from_properties(results)
        if any(r.faults for r in results):
            return CheckResult(row.cases, float("inf"), 1.0, "the inexact scheme was exact",
                               unit="ratio")
        return row
    return run


def _faithful(params: dict[str, Any], config: TransformerConfig) -> Model:
    return widen_hidden(params, config, 2, faithful=True)


def _pairwise(params: dict[str, Any], config: TransformerConfig) -> Model:
    return widen_hidden(params, config, 2, rope_method="pairwise")


_PRE_LN = [config for config in _CONFIGS if config.norm_position == "pre"]
_ROPE = [config for config in _CONFIGS if config.positions == "rope"]
_NOT_RELU = [config for config in _CONFIGS if config.activation != "relu"]

CHECKS = [
    Check("widening: Su hidden x2, zero off-grid keys",
          _move_row(lambda p, c, rng: widen_hidden(p, c, 2))),
    Check("widening: Su hidden x3, repeated freqs (+ noise)",
          _move_row(lambda p, c, rng: widen_hidden(p, c, 3, rope_method="repeat_frequencies",
                                                   noise=0.3, rng=rng))),
    Check("widening: head duplication x2 (+ noise)",
          _move_row(lambda p, c, rng: duplicate_heads(p, c, 2, noise=0.3, rng=rng))),
    Check("widening: Net2Net FFN split",
          _move_row(lambda p, c, rng: split_ffn(p, c, c.d_ff + 5, rng=rng))),
    Check("widening: new heads, head_dim x2 under RoPE",
          _move_row(lambda p, c, rng: grow_head_dim(*add_heads(p, c, 3, std=0.5, rng=rng),
                                                    8, std=0.5, rng=rng))),
    Check("widening: identity layers (pre-LN)",
          _move_row(lambda p, c, rng: add_layers(p, c, 4, at=1, std=0.5, rng=rng), _PRE_LN)),
    Check("widening: widen() composing every move",
          _move_row(lambda p, c, rng: widen(p, c, d_model=8, method="su", d_ff=13, head_dim=16,
                                            n_heads=3, noise=0.2, std=0.5, rng=rng))),
    Check("widening: post's table (b/k) inexact, fix exact",
          _counterexample(_faithful, lambda p, c: widen_hidden(p, c, 2), _NOT_RELU)),
    Check("widening: pairwise RoPE inexact, repair exact",
          _counterexample(_pairwise, lambda p, c: widen_hidden(p, c, 2), _ROPE)),
]
