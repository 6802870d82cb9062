"""Tests of refimpl.univae.loss: the target weighting, and the published weighting against a
port of the script's loss."""

from __future__ import annotations

import numpy as np
import pytest
from univae_cases import CLS, CONFIG, MAXLEN, SEP

from refimpl import univae as uv

# ---------------------------------------------------------------- loss


def test_seq2seq_weights_drop_the_published_quirks():
    tokens, segments = uv.pack([CLS, 7, SEP], maxlen=4)  # C 7 S P | C 7 S P
    target = uv.seq2seq_weights(CONFIG, tokens, segments)
    published = uv.seq2seq_weights(CONFIG, tokens, segments, weighting="published")
    # predictions of 7 and [SEP] from the target; the script adds [CLS] from the last
    # source position (index 3) and [PAD] from the target's [SEP] (index 6)
    np.testing.assert_array_equal(target, [0, 0, 0, 0, 1, 1, 0])
    np.testing.assert_array_equal(published - target, [0, 0, 0, 1, 0, 0, 1])


def test_seq2seq_loss_of_uniform_logits_is_log_vocab():
    tokens, segments = uv.pack([CLS, 7, 8, SEP], maxlen=MAXLEN)
    logits = np.zeros((2 * MAXLEN, 13))
    for weighting in ("target", "published"):
        assert uv.seq2seq_loss(CONFIG, logits, tokens, segments, weighting) == pytest.approx(
            np.log(13), rel=1e-15)


def test_published_weighting_matches_a_port_of_the_script_loss():
    # y_true = ids[1:], y_pred = probs[:-1], weight = segments[1:], weighted mean
    rng = np.random.default_rng(9)
    tokens, segments = uv.pack([CLS, 7, 8, SEP], maxlen=MAXLEN)
    logits = rng.standard_normal((2 * MAXLEN, 13)) * 3
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    per_token = -log_p[np.arange(2 * MAXLEN - 1), tokens[1:]]
    weights = segments[1:]
    expected = np.sum(per_token * weights) / np.sum(weights)
    assert uv.seq2seq_loss(CONFIG, logits, tokens, segments, "published") == pytest.approx(
        expected, rel=1e-13)
    kept = np.array([0, 0, 0, 0, 0, 1, 1, 1, 0])  # 7, 8 and [SEP] predicted in the target
    assert uv.seq2seq_loss(CONFIG, logits, tokens, segments) == pytest.approx(
        np.sum(per_token * kept) / 3, rel=1e-13)
