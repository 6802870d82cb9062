"""Self-checks of grouped-query attention, ALiBi, KV-cache decoding and the checkpoint doors.

Rows: grouped-query attention equals attention over repeated key/value heads; the
ALiBi slopes of 8 and 6 heads are the published ones; decoding token by token equals
the full causal forward (RoPE with an offset and grouped heads, learned positions in a
post-LN model, no positions with a sliding window); each checkpoint family
round-trips refimpl -> Hugging Face names -> refimpl with the same logits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refimpl.attention import alibi_slopes, repeat_kv, scaled_dot_product_attention
from refimpl.checkpoints import from_hf_state_dict, to_hf_config, to_hf_state_dict
from refimpl.selfcheck._core import Check, CheckResult
from refimpl.transformer import TransformerConfig, decode_step, forward, init_cache, init_params

_TINY: dict[str, Any] = dict(vocab_size=7, d_model=8, n_heads=4, head_dim=2, d_ff=8,
                             n_layers=2, causal=True)
_DECODERS = [
    TransformerConfig(**_TINY, n_kv_heads=2, norm="rmsnorm", activation="swiglu",
                      rope_layout="half", bias=False),
    TransformerConfig(**_TINY, norm_position="post", positions="learned", max_positions=8,
                      n_kv_heads=1),
    TransformerConfig(**_TINY, positions="none", sliding_window=2, parallel_residual=True),
]


def grouped_query_attention(rng: np.random.Generator) -> CheckResult:
    """Largest difference between enable_gqa and attention over repeat_kv copies."""
    worst = 0.0
    for groups in (1, 2, 4):
        q = rng.standard_normal((2, 4, 3, 4))
        k, v = rng.standard_normal((2, 2, 4 // groups, 5, 4))
        grouped = scaled_dot_product_attention(q, k, v, enable_gqa=True)
        plain = scaled_dot_product_attention(q, repeat_kv(k, groups), repeat_kv(v, groups))
        worst = max(worst, float(np.max(np.abs(grouped - plain))))
    return CheckResult(3, worst, 1e-13, "grouped-query attention differs from repeat_kv",
                       unit="abs")


def alibi_published_slopes(rng: np.random.Generator) -> CheckResult:
    """Slopes that differ from Press et al.'s: 1/2 .. 1/256 for 8 heads, 2^-2, 2^-4,
    2^-6, 2^-8, 2^-1, 2^-3 for 6."""
    expected = {8: 0.5 ** np.arange(1, 9), 6: 2.0 ** -np.array([2, 4, 6, 8, 1, 3])}
    wrong = sum(int(np.sum(alibi_slopes(n) != slopes)) for n, slopes in expected.items())
    return CheckResult(2, float(wrong), 0.0, f"{wrong} ALiBi slopes wrong", unit="count")


def decoding_equals_forward(rng: np.random.Generator) -> CheckResult:
    """Worst ``|decoded - full| / max(1, |full|)`` over three decoders, one token a step."""
    worst = 0.0
    for config in _DECODERS:
        params = init_params(config, rng, std=0.5)
        tokens = rng.integers(0, config.vocab_size, (2, 6))
        positions = 50 + np.arange(6) if config.positions == "rope" else None
        full = forward(params, config, tokens, positions=positions)[0]
        cache, steps = init_cache(config, (2,)), []
        for t in range(6):
            step = None if positions is None else positions[t:t + 1]
            logits, cache = decode_step(params, config, cache, tokens[:, t:t + 1],
                                        positions=step)
            steps.append(logits)
        error = np.max(np.abs(np.concatenate(steps, axis=1) - full))
        worst = max(worst, float(error) / max(1.0, float(np.max(np.abs(full)))))
    return CheckResult(len(_DECODERS), worst, 1e-12, "decoding differs from the full forward",
                       unit="rel")


def checkpoint_round_trips(rng: np.random.Generator) -> CheckResult:
    """Largest logit change of refimpl -> Hugging Face state dict -> refimpl, per family."""
    families = {
        "llama": _DECODERS[0],
        "gpt_neox": TransformerConfig(**{**_TINY, "n_heads": 2, "head_dim": 4},
                                      parallel_residual=True, rotary_dim=2,
                                      rope_layout="half", output_bias=False),
        "bert": TransformerConfig(**{**_TINY, "causal": False, "n_heads": 2, "head_dim": 4},
                                  norm_position="post", positions="learned", max_positions=8,
                                  n_segments=2, mlm_head=True),
    }
    worst = 0.0
    for model_type, config in families.items():
        params = init_params(config, rng, std=0.5)
        loaded, loaded_config = from_hf_state_dict(to_hf_config(config, model_type),
                                                   to_hf_state_dict(params, config, model_type))
        tokens = rng.integers(0, config.vocab_size, (1, 5))
        change = forward(loaded, loaded_config, tokens)[0] - forward(params, config, tokens)[0]
        worst = max(worst, float(np.max(np.abs(change))))
    return CheckResult(len(families), worst, 0.0, "a checkpoint round trip changed the logits",
                       unit="abs")


CHECKS = [
    Check("attention: grouped-query equals repeated kv", grouped_query_attention),
    Check("attention: ALiBi slopes are the published", alibi_published_slopes),
    Check("transformer: KV-cache decoding = full forward", decoding_equals_forward),
    Check("checkpoints: HF state dict round trips", checkpoint_round_trips),
]
