"""M-RoPE position ids against transformers' get_rope_index (Qwen2-VL, Qwen2.5-VL, Qwen3-VL).

Tiny random-weight models of each class; mixed text / image / video layouts, including
left padding in a batch. Ids are integers: the comparison is exact.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from transformers import Qwen2_5_VLConfig, Qwen2VLConfig, Qwen3VLConfig  # noqa: E402
from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VLModel  # noqa: E402
from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VLModel  # noqa: E402
from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLModel  # noqa: E402

from refimpl.rope.mrope_positions import (  # noqa: E402
    ImageSpan,
    TextSpan,
    VideoSpan,
    qwen2_5_vl_position_ids,
    qwen2_vl_position_ids,
    qwen3_vl_position_ids,
    qwen3_vl_video_spans,
)

transformers.logging.set_verbosity_error()
TEXT = dict(hidden_size=32, num_attention_heads=2, num_key_value_heads=2, intermediate_size=32,
            num_hidden_layers=1, vocab_size=64, head_dim=16)
VISION = dict(depth=1, num_heads=2, hidden_size=32, spatial_merge_size=2)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    qwen2 = Qwen2VLModel(Qwen2VLConfig(
        text_config={**TEXT, "rope_parameters": {"rope_type": "default",
                                                 "mrope_section": [2, 3, 3]}},
        vision_config={"depth": 1, "num_heads": 2, "embed_dim": 32, "hidden_size": 32,
                       "spatial_merge_size": 2}))
    qwen25 = Qwen2_5_VLModel(Qwen2_5_VLConfig(
        text_config={**TEXT, "rope_parameters": {"rope_type": "default",
                                                 "mrope_section": [2, 3, 3]}},
        vision_config={**VISION, "out_hidden_size": 32, "intermediate_size": 32,
                       "tokens_per_second": 2}))
    qwen3 = Qwen3VLModel(Qwen3VLConfig(
        text_config={**TEXT, "rope_parameters": {"rope_type": "default",
                                                 "mrope_section": [4, 2, 2]}},
        vision_config={**VISION, "out_hidden_size": 32, "intermediate_size": 32,
                       "deepstack_visual_indexes": []}))
    return {"qwen2": qwen2, "qwen25": qwen25, "qwen3": qwen3}


def _hf_inputs(spans):
    """Token types and grids in HF's form for one sequence of spans."""
    types, images, videos, seconds = [], [], [], []
    for span in spans:
        if isinstance(span, TextSpan):
            types += [0] * span.length
        else:
            count = span.t * span.h * span.w // 4
            kind = 1 if isinstance(span, ImageSpan) else 2
            types += [kind] * count
            (images if kind == 1 else videos).append([span.t, span.h, span.w])
            if kind == 2:
                seconds.append(span.seconds_per_grid)
    return types, images, videos, seconds


LAYOUTS = {
    "text-image-text": [TextSpan(3), ImageSpan(1, 4, 6), TextSpan(5)],
    "image-first": [ImageSpan(1, 8, 4), TextSpan(2)],
    "two-images-video": [TextSpan(1), ImageSpan(1, 2, 2), TextSpan(2), ImageSpan(1, 6, 2),
                         TextSpan(1), VideoSpan(3, 4, 4, seconds_per_grid=0.5), TextSpan(4)],
    "long-video": [TextSpan(2), VideoSpan(8, 2, 2, seconds_per_grid=1.3), TextSpan(3)],
}


def _run(model, spans, **extra):
    types, images, videos, seconds = _hf_inputs(spans)
    kwargs = dict(input_ids=torch.zeros(1, len(types), dtype=torch.long),
                  mm_token_type_ids=torch.tensor([types]),
                  image_grid_thw=torch.tensor(images) if images else None,
                  video_grid_thw=torch.tensor(videos) if videos else None, **extra)
    if seconds and "second_per_grid_ts" in extra:
        kwargs["second_per_grid_ts"] = torch.tensor(seconds)
    ids, deltas = model.get_rope_index(**kwargs)
    return ids[:, 0].numpy(), int(deltas[0, 0])


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_qwen2_vl_and_qwen2_5_vl(models, name):
    spans = LAYOUTS[name]
    ids, delta = qwen2_vl_position_ids(spans)
    hf_ids, hf_delta = _run(models["qwen2"], spans)
    np.testing.assert_array_equal(ids, hf_ids)
    assert delta == hf_delta
    ids, delta = qwen2_5_vl_position_ids(spans, tokens_per_second=2)
    hf_ids, hf_delta = _run(models["qwen25"], spans, second_per_grid_ts=None)
    np.testing.assert_array_equal(ids, hf_ids)
    assert delta == hf_delta


def test_qwen3_vl_video_frames_and_images(models):
    video = qwen3_vl_video_spans((3, 4, 4), [5, 5, 6])
    spans = [TextSpan(2), ImageSpan(1, 4, 2), TextSpan(1), *video, TextSpan(3)]
    ids, delta = qwen3_vl_position_ids(spans)
    types, images, _, _ = _hf_inputs(spans)
    hf_ids, hf_deltas = models["qwen3"].get_rope_index(
        input_ids=torch.zeros(1, len(types), dtype=torch.long),
        mm_token_type_ids=torch.tensor([types]), image_grid_thw=torch.tensor(images),
        video_grid_thw=torch.tensor([[3, 4, 4]]))  # one grid; HF splits it into frames
    np.testing.assert_array_equal(ids, hf_ids[:, 0].numpy())
    assert delta == int(hf_deltas[0, 0])


def test_left_padding_in_a_batch(models):
    """HF computes ids on the unmasked tokens and leaves 0 at the padding."""
    short = [TextSpan(2), ImageSpan(1, 2, 4), TextSpan(1)]
    long = [TextSpan(4), ImageSpan(1, 4, 4), TextSpan(3)]
    rows = [_hf_inputs(short)[0], _hf_inputs(long)[0]]
    width = max(map(len, rows))
    types = torch.tensor([[0] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    hf_ids, hf_deltas = models["qwen2"].get_rope_index(
        input_ids=torch.zeros_like(types), mm_token_type_ids=types,
        image_grid_thw=torch.tensor([[1, 2, 4], [1, 4, 4]]), attention_mask=mask)
    for row, spans in enumerate((short, long)):
        ids, delta = qwen2_vl_position_ids(spans)
        np.testing.assert_array_equal(hf_ids[:, row, width - ids.shape[1]:].numpy(), ids)
        assert delta == int(hf_deltas[row, 0])
