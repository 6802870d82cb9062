"""Self-checks of RoPE from Hugging Face configs, HF's update rules and M-RoPE ids.

Each expected value is derived by hand from the formula the check names (no call to the
code under test computes it), so a moved reading of a config shows as a failing row.
"""

from __future__ import annotations

import numpy as np

from refimpl import rope
from refimpl.rope.mrope_positions import ImageSpan, TextSpan, VideoSpan
from refimpl.selfcheck._core import Check, CheckResult


def config_reading(rng: np.random.Generator) -> CheckResult:
    """Relative error of from_hf_config on hand-written configs against the formulas."""
    cases = []
    config = {"hidden_size": 256, "num_attention_heads": 4, "max_position_embeddings": 64,
              "partial_rotary_factor": 0.5,
              "rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1e4}}
    k = np.arange(16)
    cases.append((rope.from_hf_config(config).inv_freq, 1e4 ** (-2 * k / 32) / 2))
    old = {"hidden_size": 128, "num_attention_heads": 2, "rope_theta": 5e5,
           "rope_scaling": {"type": "linear", "factor": 4.0}}
    cases.append((rope.from_hf_config(old).inv_freq, 5e5 ** (-2 * np.arange(32) / 64) / 4))
    odd = {"hidden_size": 128, "num_attention_heads": 2, "partial_rotary_factor": 0.3}
    cases.append((rope.from_hf_config(odd).inv_freq, 1e4 ** (-2 * np.arange(10) / 19)))
    proportional = {"head_dim": 16, "num_attention_heads": 1, "rope_parameters": {
        "rope_type": "proportional", "partial_rotary_factor": 0.5}}
    expected = np.where(np.arange(8) < 4, 1e4 ** (-2 * np.arange(8) / 16), 0.0)
    cases.append((rope.from_hf_config(proportional).inv_freq, expected))
    worst = max(float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-300)))
                for got, want in cases)
    return CheckResult(len(cases), worst, 1e-14, "a config key moved", unit="rel")


def update_rules(rng: np.random.Generator) -> CheckResult:
    """Count of calls where the dynamic / longrope rules differ from the hand trace."""
    lengths = [100, 5000, 8192, 5000, 4096, 2048, 4097]
    dynamic = rope.dynamic_seq_lens(lengths, 4096)
    longrope = rope.longrope_seq_lens(lengths, 4096)
    wrong = sum(a != b for a, b in zip(dynamic, [4096, 5000, 8192, 8192, 8192, 4096, 4097],
                                       strict=True))
    wrong += sum(a != b for a, b in zip(longrope, [None, 4097, 4097, 4097, None, None, 4097],
                                        strict=True))
    return CheckResult(2 * len(lengths), float(wrong), 0.0, "an update rule moved",
                       unit="count")


def mrope_ids(rng: np.random.Generator) -> CheckResult:
    """Count of wrong ids on a hand-derived Qwen2-VL / Qwen2.5-VL layout."""
    spans: list[TextSpan | ImageSpan | VideoSpan] = [
        TextSpan(2), ImageSpan(1, 2, 4), VideoSpan(2, 2, 2, seconds_per_grid=1.5), TextSpan(1)]
    # text 0, 1; image 1 x 2 tokens at 2 (w 2, 3), start 2 + 2 = 4; video 2 tokens at 4,
    # time 4 + (0, 1) (Qwen2-VL) or 4 + floor((0, 1) * 2 * 1.5) = 4, 7; start 5; text 5
    qwen2 = np.array([[0, 1, 2, 2, 4, 5, 5], [0, 1, 2, 2, 4, 4, 5], [0, 1, 2, 3, 4, 4, 5]])
    qwen25 = qwen2.copy()
    qwen25[0, 5] = 7
    got2, delta2 = rope.qwen2_vl_position_ids(spans)
    got25, delta25 = rope.qwen2_5_vl_position_ids(spans, tokens_per_second=2)
    wrong = int(np.sum(got2 != qwen2) + np.sum(got25 != qwen25))
    wrong += int(delta2 != 6 - 7) + int(delta25 != 8 - 7)
    return CheckResult(2 * qwen2.size + 2, float(wrong), 0.0, "M-RoPE ids moved", unit="count")


CHECKS = [
    Check("rope: from_hf_config reads configs", config_reading),
    Check("rope: HF dynamic / longrope update rules", update_rules),
    Check("rope: Qwen-VL M-RoPE position ids", mrope_ids),
]
