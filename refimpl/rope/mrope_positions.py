"""M-RoPE position ids of Qwen2-VL, Qwen2.5-VL and Qwen3-VL: ``(t, h, w)`` for every token.

A multimodal prompt is a run of spans: text, then an image's patch grid, then text, a
video, ... Each token gets three ids (time, height, width), which the language model's
M-RoPE (:func:`refimpl.rope.nd.mrope_frequencies`) turns into angles:

* text tokens sit on the diagonal, ``t = h = w``, counting up from the running start
  ``s`` (where M-RoPE is exactly 1-D RoPE);
* a vision span of ``T x H x W`` patches, merged ``m x m`` into ``T x H/m x W/m``
  tokens in raster order, gets ``(s + tau(i_t), s + i_h, s + i_w)``: the grid offset
  by the running start, with ``tau(i) = i`` in Qwen2-VL and Qwen3-VL and
  ``tau(i) = floor(i * tokens_per_second * seconds_per_grid)`` for Qwen2.5-VL videos;
* after a vision span the start moves on by ``max(H, W) / m`` (not by ``T``);
* ``rope_delta = max(ids) + 1 - len(tokens)``: during generation, the token at
  position ``p`` (counting every token, text or vision) gets ``p + rope_delta`` on all
  three axes (:func:`decode_position_ids`).

Qwen3-VL gives each video frame its own span, separated by a timestamp in text
(``<0.5 seconds>``), so time is read from the text rather than from ``t``
(:func:`qwen3_vl_video_spans`, :func:`qwen3_vl_timestamps`). Source: transformers
5.23.0 ``models/qwen2_vl/modeling_qwen2_vl.py``, ``models/qwen2_5_vl/modeling_qwen2_5_vl.py``
and ``models/qwen3_vl/modeling_qwen3_vl.py`` (``get_rope_index``,
``get_vision_position_ids``) and ``models/qwen3_vl/processing_qwen3_vl.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from refimpl._validation import as_float_array, as_int, as_scalar

__all__ = ["TextSpan", "ImageSpan", "VideoSpan", "vision_position_ids",
           "qwen2_vl_position_ids", "qwen2_5_vl_position_ids", "qwen3_vl_position_ids",
           "qwen3_vl_video_spans", "qwen3_vl_timestamps", "decode_position_ids"]


@dataclass(frozen=True)
class TextSpan:
    """``length`` text tokens (vision start/end markers and timestamps included)."""

    length: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "length", as_int(self.length, "length", minimum=1))


@dataclass(frozen=True)
class ImageSpan:
    """An image of ``t x h x w`` patches before the ``m x m`` merge (``image_grid_thw``)."""

    t: int
    h: int
    w: int

    def __post_init__(self) -> None:
        for name in ("t", "h", "w"):
            object.__setattr__(self, name, as_int(getattr(self, name), name, minimum=1))


@dataclass(frozen=True)
class VideoSpan:
    """A video of ``t x h x w`` patches (``video_grid_thw``); ``seconds_per_grid`` is
    Qwen2.5-VL's ``second_per_grid_ts`` (``temporal_patch_size / fps``)."""

    t: int
    h: int
    w: int
    seconds_per_grid: float = 1.0

    def __post_init__(self) -> None:
        for name in ("t", "h", "w"):
            object.__setattr__(self, name, as_int(getattr(self, name), name, minimum=1))
        object.__setattr__(self, "seconds_per_grid",
                           as_scalar(self.seconds_per_grid, "seconds_per_grid",
                                     nonnegative=True))


Span = TextSpan | ImageSpan | VideoSpan


def vision_position_ids(start: int, grid: tuple[int, int, int], merge_size: int = 2,
                        time_interval: float = 1.0) -> np.ndarray:
    """The ``(3, T * H/m * W/m)`` ids of one vision span starting at ``start``.

    .. math:: (t, h, w) = \\big(s + \\lfloor i_t \\, \\Delta \\rfloor,\\; s + i_h,\\; s + i_w\\big)

    over the merged grid in raster order, with ``Delta = time_interval``
    (``floor`` as ``torch.long`` truncates a non-negative product).

    Examples
    --------
    >>> vision_position_ids(5, (2, 2, 4), merge_size=2, time_interval=3.0)
    array([[5, 5, 8, 8],
           [5, 5, 5, 5],
           [5, 6, 5, 6]])
    """
    start = as_int(start, "start")
    merge = as_int(merge_size, "merge_size", minimum=1)
    frames, height, width = (as_int(size, "grid", minimum=1) for size in grid)
    if height % merge or width % merge:
        raise ValueError(f"grid {tuple(grid)} must have h and w divisible by "
                         f"merge_size={merge}")
    interval = as_scalar(time_interval, "time_interval", nonnegative=True)
    time = np.floor(np.arange(frames) * interval).astype(np.int64)
    t, h, w = np.meshgrid(time, np.arange(height // merge), np.arange(width // merge),
                          indexing="ij")
    return np.stack([t, h, w]).reshape(3, -1) + start


def _check_spans(spans: Sequence[Span]) -> list[Span]:
    """A non-empty list of spans (a bare span or a string is a mistake)."""
    if isinstance(spans, (TextSpan, ImageSpan, VideoSpan, str, bytes)) or \
            not isinstance(spans, Sequence) or not spans:
        raise TypeError(f"spans must be a non-empty sequence of TextSpan / ImageSpan / "
                        f"VideoSpan, got {spans!r}")
    for span in spans:
        if not isinstance(span, (TextSpan, ImageSpan, VideoSpan)):
            raise TypeError(f"spans must hold TextSpan, ImageSpan or VideoSpan, got {span!r}")
    return list(spans)


def _position_ids(spans: Sequence[Span], merge_size: int,
                  tokens_per_second: float | None) -> tuple[np.ndarray, int]:
    """The shared walk over spans; ``tokens_per_second`` set for Qwen2.5-VL's time."""
    parts, start = [], 0
    for span in _check_spans(spans):
        if isinstance(span, TextSpan):
            parts.append(np.broadcast_to(np.arange(span.length) + start, (3, span.length)))
            start += span.length
            continue
        interval = 1.0
        if isinstance(span, VideoSpan) and tokens_per_second is not None:
            interval = tokens_per_second * span.seconds_per_grid
        parts.append(vision_position_ids(start, (span.t, span.h, span.w), merge_size, interval))
        start += max(span.h, span.w) // merge_size
    ids = np.concatenate(parts, axis=1).astype(np.int64)
    return ids, int(ids.max()) + 1 - ids.shape[1]


def qwen2_vl_position_ids(spans: Sequence[Span], *, spatial_merge_size: int = 2
                          ) -> tuple[np.ndarray, int]:
    """Qwen2-VL's ``get_rope_index`` for one sequence: ``(ids of shape (3, T), rope_delta)``.

    Text on the diagonal; images and videos as their merged ``(t, h, w)`` grid offset by
    the running start, time counting frames (:func:`vision_position_ids` with
    ``time_interval = 1``); the start then moves by ``max(h, w) / m``.

    Examples
    --------
    >>> ids, delta = qwen2_vl_position_ids([TextSpan(2), ImageSpan(1, 4, 4), TextSpan(2)])
    >>> ids
    array([[0, 1, 2, 2, 2, 2, 4, 5],
           [0, 1, 2, 2, 3, 3, 4, 5],
           [0, 1, 2, 3, 2, 3, 4, 5]])
    >>> delta
    -2
    """
    return _position_ids(spans, spatial_merge_size, None)


def qwen2_5_vl_position_ids(spans: Sequence[Span], *, spatial_merge_size: int = 2,
                            tokens_per_second: float = 2.0) -> tuple[np.ndarray, int]:
    """Qwen2.5-VL's ``get_rope_index``: Qwen2-VL's ids with video time in absolute units.

    A video's time id is ``s + floor(i_t * tokens_per_second * seconds_per_grid)``, so
    ids advance with seconds rather than frames (``vision_config.tokens_per_second``, 2
    in the released models; ``seconds_per_grid = temporal_patch_size / fps``). Images
    keep ``time_interval = 1``.

    Examples
    --------
    >>> ids, delta = qwen2_5_vl_position_ids([VideoSpan(3, 2, 2, seconds_per_grid=2.0)],
    ...                                      tokens_per_second=25)
    >>> ids[0], delta
    (array([  0,  50, 100]), 98)
    """
    rate = as_scalar(tokens_per_second, "tokens_per_second", nonnegative=True)
    return _position_ids(spans, spatial_merge_size, rate)


def qwen3_vl_position_ids(spans: Sequence[Span], *, spatial_merge_size: int = 2
                          ) -> tuple[np.ndarray, int]:
    """Qwen3-VL's ``get_rope_index``: every video frame is its own span.

    Qwen3-VL separates frames with timestamp text, so a :class:`VideoSpan` must hold one
    frame (``t = 1``); build a video's spans with :func:`qwen3_vl_video_spans`. The ids
    are then those of :func:`qwen2_vl_position_ids`.

    Examples
    --------
    >>> spans = qwen3_vl_video_spans((2, 2, 2), timestamp_lengths=[3, 3])
    >>> qwen3_vl_position_ids(spans)[0][0].tolist()  # 4 text, frame, 1 text; twice
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    """
    spans = _check_spans(spans)
    for span in spans:
        if isinstance(span, VideoSpan) and span.t != 1:
            raise ValueError(f"Qwen3-VL gives each video frame its own span between "
                             f"timestamps, got {span!r} with t={span.t}: build the spans "
                             "with qwen3_vl_video_spans(grid_thw, timestamp_lengths)")
    return _position_ids(spans, spatial_merge_size, None)


def qwen3_vl_video_spans(grid_thw: Sequence[int], timestamp_lengths: Sequence[int], *,
                         vision_start: int = 1, vision_end: int = 1) -> list[Span]:
    """The spans of one Qwen3-VL video: per frame, timestamp text, a marker, the frame,
    a marker.

    The processor writes ``<{time:.1f} seconds><|vision_start|>{frame}<|vision_end|>``
    for each of the ``t`` temporal patches; ``timestamp_lengths[i]`` is the number of
    tokens the tokenizer makes of frame ``i``'s timestamp text. Source: transformers
    5.23.0 ``models/qwen3_vl/processing_qwen3_vl.py`` (``replace_video_token``).

    Examples
    --------
    >>> qwen3_vl_video_spans((2, 4, 4), [5, 5])[:3]
    [TextSpan(length=6), VideoSpan(t=1, h=4, w=4, seconds_per_grid=1.0), TextSpan(length=1)]
    """
    frames, height, width = (as_int(size, "grid_thw", minimum=1) for size in grid_thw)
    lengths = [as_int(n, "timestamp_lengths", minimum=0) for n in timestamp_lengths]
    if len(lengths) != frames:
        raise ValueError(f"timestamp_lengths must hold one count per frame ({frames}), got "
                         f"{len(lengths)}")
    start, end = as_int(vision_start, "vision_start", minimum=0), as_int(vision_end,
                                                                         "vision_end", minimum=0)
    spans: list[Span] = []
    for length in lengths:
        if length + start:
            spans.append(TextSpan(length + start))
        spans.append(VideoSpan(1, height, width))
        if end:
            spans.append(TextSpan(end))
    return spans


def qwen3_vl_timestamps(frame_indices: ArrayLike, fps: float, temporal_patch_size: int = 2
                        ) -> np.ndarray:
    """The seconds Qwen3-VL writes before each temporal patch: the mean of its first and
    last frame's time.

    .. math:: \\tau_j = \\tfrac12\\,(f_{jm} + f_{jm + m - 1}) / \\text{fps}

    with ``m = temporal_patch_size``; a last incomplete patch repeats the last frame.
    Source: transformers 5.23.0 ``Qwen3VLProcessor._calculate_timestamps``.

    Examples
    --------
    >>> qwen3_vl_timestamps([0, 12, 24, 36, 48], fps=24.0)
    array([0.25, 1.25, 2.  ])
    """
    frames = as_float_array(frame_indices, "frame_indices")
    if frames.ndim != 1 or frames.size == 0:
        raise ValueError(f"frame_indices must be a non-empty 1-D list, got shape {frames.shape}")
    rate = as_scalar(fps, "fps", positive=True)
    size = as_int(temporal_patch_size, "temporal_patch_size", minimum=1)
    padded = np.concatenate([frames, np.full(-frames.size % size, frames[-1])])
    seconds = padded / rate
    return (seconds[0::size] + seconds[size - 1::size]) / 2


def decode_position_ids(rope_delta: int, past_length: int, new_tokens: int = 1) -> np.ndarray:
    """The ``(3, n)`` ids of ``n`` tokens generated after ``past_length`` cached ones.

    .. math:: t = h = w = p + \\delta, \\qquad p = \\text{past}, \\ldots, \\text{past} + n - 1

    with ``delta`` the ``rope_delta`` of the prompt: text continues on the diagonal
    from ``max(ids) + 1``. Source: transformers 5.23.0
    ``Qwen2VLModel.compute_3d_position_ids`` (the ``rope_deltas`` branch).

    Examples
    --------
    >>> decode_position_ids(-2, 8)
    array([[6],
           [6],
           [6]])
    """
    delta = as_int(rope_delta, "rope_delta")
    past = as_int(past_length, "past_length", minimum=0)
    count = as_int(new_tokens, "new_tokens", minimum=1)
    return np.broadcast_to(np.arange(past, past + count) + delta, (3, count)).copy()
