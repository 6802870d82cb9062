"""Self-checks of the reference Transformer, attention and masks.

Rows: the hand-written backward of the whole model against central differences (two
configurations covering both norm positions, both norms, RoPE and learned positions,
gated and plain FFNs, tied and untied output, the MLM head); attention logits under
RoPE depend only on relative positions; masked attention (the properties of
:mod:`refimpl.testing.properties.attention`: fully masked rows give zeros, masked keys,
e.g. the future under a causal mask, do not move a query); the UniLM/UniAE mask rules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from refimpl import rope
from refimpl.attention import attention_logits, scaled_dot_product_attention
from refimpl.gradcheck import numerical_vjp
from refimpl.masks import causal_mask, independent_mask, uniae_mask, unilm_mask
from refimpl.selfcheck._core import Check, CheckResult, from_properties
from refimpl.testing.properties import Case
from refimpl.testing.properties.attention import (
    attention_subject,
    fully_masked_rows_are_zero,
    masked_keys_ignored,
)
from refimpl.transformer import TransformerConfig, backward, forward, init_params

_TINY: dict[str, Any] = dict(vocab_size=5, d_model=4, n_heads=2, head_dim=2, d_ff=4, n_layers=1)
_CONFIGS = [
    TransformerConfig(**_TINY, norm_position="pre", positions="rope", activation="gelu"),
    TransformerConfig(**_TINY, norm="rmsnorm", norm_position="post", positions="learned",
                      activation="swiglu", tie_output=False, mlm_head=True, max_positions=3),
]


def _paths(tree: dict[Any, Any] | list[Any], prefix: tuple[Any, ...] = ()
           ) -> list[tuple[Any, ...]]:
    """The key path of every leaf of a nested dict/list, in a fixed order."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree)
    found = []
    for key, value in items:
        path = prefix + (key,)
        found += _paths(value, path) if isinstance(value, (dict, list)) else [path]
    return found


def _parent(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        tree = tree[key]
    return tree


def _model_error(config: TransformerConfig, rng: np.random.Generator) -> float:
    """Largest ``|analytic - numeric| / max(1, |numeric|)`` over every parameter."""
    params = init_params(config, rng, std=0.7)
    tokens, mask = rng.integers(0, config.vocab_size, (1, 3)), causal_mask(3)
    logits, cache = forward(params, config, tokens, mask)
    cotangent = rng.standard_normal(logits.shape)
    grads = backward(params, config, cache, cotangent)
    worst = 0.0
    for path in _paths(params):
        container, key = _parent(params, path), path[-1]

        def logits_of(value: np.ndarray, container: Any = container, key: Any = key
                      ) -> np.ndarray:
            saved, container[key] = container[key], value
            try:
                return forward(params, config, tokens, mask)[0]
            finally:
                container[key] = saved

        numeric, = numerical_vjp(logits_of, [container[key]], cotangent)
        error = np.max(np.abs(_parent(grads, path)[key] - numeric))
        worst = max(worst, float(error) / max(1.0, float(np.max(np.abs(numeric)))))
    return worst


def model_gradcheck(rng: np.random.Generator) -> CheckResult:
    """Worst relative error of the model's backward over two configurations."""
    worst = max(_model_error(config, rng) for config in _CONFIGS)
    return CheckResult(len(_CONFIGS), worst, 1e-7, "backward disagrees with finite differences",
                       unit="rel")


def relative_position_logits(rng: np.random.Generator) -> CheckResult:
    """Largest change of RoPE attention logits when every position shifts by the same amount."""
    worst, cases = 0.0, 0
    for layout in ("interleaved", "half"):
        for shift in rng.integers(-10**4, 10**4, 5):
            q, k = rng.standard_normal((6, 8)), rng.standard_normal((6, 8))
            frequencies = rope.inv_freq(6)
            positions = rng.integers(0, 100, 6)
            logits = [attention_logits(q, k, angles=rope.angles(p, frequencies), layout=layout,
                                       rotary_dim=6)
                      for p in (positions, positions + shift)]
            worst = max(worst, float(np.max(np.abs(logits[1] - logits[0]))))
            cases += 1
    return CheckResult(cases, worst, 1e-9, "logits changed under a common position shift",
                       unit="abs")


def masked_attention(rng: np.random.Generator) -> CheckResult:
    """attention.masked_keys_ignored (causal and random masks: keys a query may not see
    do not move it) and attention.fully_masked_rows_are_zero on refimpl's attention."""
    subject = attention_subject(scaled_dot_product_attention, fully_masked="zeros")
    results = []
    for trial in range(10):
        q, k, v = (rng.standard_normal((5, 4)) for _ in range(3))
        mask = causal_mask(5) if trial % 2 else rng.random((5, 5)) < 0.6
        changed = np.arange(5) > int(rng.integers(0, 4)) if trial % 2 else rng.random(5) < 0.5
        case = Case(q=q, k=k, v=v, mask=mask, changed=changed,
                    k_noise=rng.standard_normal((5, 4)), v_noise=rng.standard_normal((5, 4)))
        results += [masked_keys_ignored(subject, case),
                    fully_masked_rows_are_zero(subject, case)]
    return from_properties(results)


def segment_masks(rng: np.random.Generator) -> CheckResult:
    """Entries where the UniLM, independent and UniAE masks break their defining rules."""
    wrong = 0
    for _ in range(20):
        s = np.sort(rng.integers(0, 2, rng.integers(2, 9)))
        s[0] = 0
        c = np.cumsum(s)
        causal_ok = c[None, :] <= c[:, None]
        same = s[None, :] == s[:, None]
        wrong += np.sum(unilm_mask(s) != causal_ok)
        wrong += np.sum(independent_mask(s) != (same & causal_ok))
        wrong += np.sum(uniae_mask(s) != ((same & causal_ok) | (np.arange(len(s)) == 0)))
    return CheckResult(20, float(wrong), 0.0, f"{wrong} mask entries wrong", unit="count")


CHECKS = [
    Check("transformer: model backward vs finite diff.", model_gradcheck),
    Check("attention: RoPE logits are relative", relative_position_logits),
    Check("attention: masked rows zero, causal", masked_attention),
    Check("masks: UniLM / independent / UniAE rules", segment_masks),
]
