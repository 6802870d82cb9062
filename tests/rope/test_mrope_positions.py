"""Tests of refimpl.rope.mrope_positions: hand-derived small layouts and the rules as
properties. HF's own get_rope_index is compared in tests/interop/test_rope_mrope.py."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refimpl.rope.mrope_positions import (
    ImageSpan,
    TextSpan,
    VideoSpan,
    decode_position_ids,
    qwen2_5_vl_position_ids,
    qwen2_vl_position_ids,
    qwen3_vl_position_ids,
    qwen3_vl_timestamps,
    qwen3_vl_video_spans,
    vision_position_ids,
)


def test_text_image_text_by_hand():
    """3 text tokens (0, 1, 2); a 4 x 6 image merged 2 x 2 -> 2 x 3 tokens at start 3:
    t = 3, h = 3 + (0,0,0,1,1,1), w = 3 + (0,1,2,0,1,2); next start 3 + max(4,6)/2 = 6;
    2 text tokens at 6, 7. rope_delta = 8 - 11 = -3."""
    ids, delta = qwen2_vl_position_ids([TextSpan(3), ImageSpan(1, 4, 6), TextSpan(2)])
    np.testing.assert_array_equal(ids, [
        [0, 1, 2, 3, 3, 3, 3, 3, 3, 6, 7],
        [0, 1, 2, 3, 3, 3, 4, 4, 4, 6, 7],
        [0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7]])
    assert delta == -3
    np.testing.assert_array_equal(decode_position_ids(delta, 11, 2), [[8, 9]] * 3)


def test_video_time_by_model():
    """A 3-frame 2 x 2 video after 1 text token: Qwen2-VL counts frames (1, 2, 3);
    Qwen2.5-VL counts tokens_per_second * seconds (2 * 0.75 = 1.5 per frame: 1 + floor
    (0, 1.5, 3) = 1, 2, 4); the start moves by max(h, w)/m = 1 either way, not by t."""
    spans = [TextSpan(1), VideoSpan(3, 2, 2, seconds_per_grid=0.75), TextSpan(1)]
    ids, delta = qwen2_vl_position_ids(spans)
    np.testing.assert_array_equal(ids[0], [0, 1, 2, 3, 2])
    np.testing.assert_array_equal(ids[1], [0, 1, 1, 1, 2])
    assert delta == 4 - 5
    ids, delta = qwen2_5_vl_position_ids(spans, tokens_per_second=2)
    np.testing.assert_array_equal(ids[0], [0, 1, 2, 4, 2])
    assert delta == 5 - 5
    # images keep time_interval 1 in Qwen2.5-VL (transformers #45325)
    ids, _ = qwen2_5_vl_position_ids([ImageSpan(2, 2, 2)], tokens_per_second=25)
    np.testing.assert_array_equal(ids[0], [0, 1])


def test_qwen3_frames_and_timestamps():
    spans = qwen3_vl_video_spans((2, 2, 4), [2, 3])
    assert spans == [TextSpan(3), VideoSpan(1, 2, 4), TextSpan(1), TextSpan(4),
                     VideoSpan(1, 2, 4), TextSpan(1)]
    ids, delta = qwen3_vl_position_ids(spans)
    # text 0-2; frame 1 (1 x 2 tokens) at 3: w = 3, 4; start -> 5; text 5; text 6-9;
    # frame 2 at 10; start -> 12; text 12
    np.testing.assert_array_equal(ids[2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    np.testing.assert_array_equal(ids[0], [0, 1, 2, 3, 3, 5, 6, 7, 8, 9, 10, 10, 12])
    assert delta == 13 - 13
    with pytest.raises(ValueError, match="each video frame its own span.*qwen3_vl_video_spans"):
        qwen3_vl_position_ids([VideoSpan(2, 2, 2)])
    # frames 0, 8, 16 at 8 fps with patches of 2: (0 + 1)/2, (2 + 2)/2 (last repeated)
    np.testing.assert_allclose(qwen3_vl_timestamps([0, 8, 16], 8.0), [0.5, 2.0])


spans_strategy = st.lists(st.one_of(
    st.builds(TextSpan, st.integers(1, 5)),
    st.builds(ImageSpan, st.just(1), st.integers(1, 3).map(lambda n: 2 * n),
              st.integers(1, 3).map(lambda n: 2 * n)),
    st.builds(VideoSpan, st.integers(1, 3), st.integers(1, 2).map(lambda n: 2 * n),
              st.integers(1, 2).map(lambda n: 2 * n), st.floats(0.0, 3.0))), min_size=1,
    max_size=6)


@given(spans_strategy, st.floats(0.0, 30.0))
def test_rules_as_properties(spans, rate):
    for ids, delta in (qwen2_vl_position_ids(spans),
                       qwen2_5_vl_position_ids(spans, tokens_per_second=rate)):
        assert ids.shape == (3, sum(_tokens(s) for s in spans))
        assert ids.dtype == np.int64
        assert delta == ids.max() + 1 - ids.shape[1]
        start, column = 0, 0
        for span in spans:
            block = ids[:, column:column + _tokens(span)]
            if isinstance(span, TextSpan):  # the diagonal, from the running start
                np.testing.assert_array_equal(block, np.broadcast_to(
                    start + np.arange(span.length), block.shape))
                start += span.length
            else:  # h and w are the merged grid offset by the start
                assert block[1].min() == start and block[2].min() == start
                assert block[1].max() == start + span.h // 2 - 1
                assert block[0].min() == start
                start += max(span.h, span.w) // 2
            column += _tokens(span)


def _tokens(span):
    return span.length if isinstance(span, TextSpan) else span.t * span.h * span.w // 4


def test_vision_ids_and_errors():
    np.testing.assert_array_equal(vision_position_ids(0, (1, 2, 2), merge_size=1),
                                  [[0, 0, 0, 0], [0, 0, 1, 1], [0, 1, 0, 1]])
    with pytest.raises(ValueError, match="divisible by merge_size=2"):
        qwen2_vl_position_ids([ImageSpan(1, 3, 4)])
    with pytest.raises(TypeError, match="non-empty sequence of TextSpan"):
        qwen2_vl_position_ids(TextSpan(3))
    with pytest.raises(TypeError, match="spans must hold"):
        qwen2_vl_position_ids([3])
    with pytest.raises(ValueError, match="length must be at least 1"):
        TextSpan(0)
    with pytest.raises(ValueError, match="timestamp_lengths must hold one count per frame"):
        qwen3_vl_video_spans((2, 2, 2), [1])
