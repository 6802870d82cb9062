"""Reading Hugging Face configs and state dicts with errors that name the key.

:class:`StateDictReader` hands out the tensors of a state dict one key at a time, each
converted to a float64 NumPy array and checked against the shape the config implies,
and at the end reports every key nobody asked for; :func:`config_value` reads a config
field or says which one is missing. Shared by the family modules of
:mod:`refimpl.checkpoints`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["StateDictReader", "config_value", "as_config_dict", "hf_linear", "to_hf_linear",
           "check_choice_of"]

_MISSING = object()


def as_config_dict(config: object) -> dict:
    """A Hugging Face config as a plain dict: a dict, or an object with ``to_dict()``."""
    if isinstance(config, Mapping):
        return dict(config)
    to_dict = getattr(config, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    raise TypeError(f"config_dict must be a dict (e.g. transformers' config.to_dict()) or a "
                    f"config object with to_dict(), got {type(config).__name__}")


def config_value(config: Mapping, key: str, default: object = _MISSING) -> Any:
    """``config[key]`` (or ``default`` when it is absent or None), or raise naming the key.

    Typed ``Any``: a config field is JSON (int, float, str, bool, list, dict); the
    callers convert it to the type they need."""
    value = config.get(key)
    if value is not None:
        return value
    if default is _MISSING:
        raise ValueError(f"config_dict has no {key!r} (needed to build the model)")
    return default


def check_choice_of(config: Mapping, key: str, value: object, choices: Iterable[object],
                    why: str = "") -> None:
    """Raise naming ``key`` when ``value`` is not one of ``choices`` (an unsupported option)."""
    allowed = tuple(choices)
    if value not in allowed:
        raise ValueError(f"unsupported config option {key}={value!r} "
                         f"(model_type {config.get('model_type')!r}); supported: "
                         f"{', '.join(map(repr, allowed))}{why}")


def _as_array(value: object, key: str) -> np.ndarray:
    """A tensor of the state dict as a float64 NumPy array, or raise naming ``key``."""
    try:
        array = np.asarray(value)
    except Exception as error:  # e.g. a bfloat16 torch tensor has no NumPy dtype
        raise TypeError(f"state_dict[{key!r}] is not convertible to a NumPy array ({error}); "
                        f"pass NumPy arrays, e.g. {{k: v.detach().float().numpy() for k, v in "
                        f"model.state_dict().items()}}") from None
    if array.dtype.kind not in "fiu":
        raise TypeError(f"state_dict[{key!r}] must hold real numbers, got dtype {array.dtype}; "
                        f"for torch tensors use .detach().float().numpy()")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"state_dict[{key!r}] holds a non-finite value")
    return array


class StateDictReader:
    """The tensors of a state dict, taken one key at a time with their shapes checked.

    ``take(key, shape)`` returns the tensor as a float64 array (``ValueError`` naming the
    key if it is missing or has another shape); ``finish()`` raises on the keys never
    taken, except those ending in one of ``ignore`` (buffers older checkpoints saved).
    """

    def __init__(self, state_dict: Mapping, ignore: Iterable[str] = ()) -> None:
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping from names to arrays, got "
                            f"{type(state_dict).__name__}")
        self.state = dict(state_dict)
        self.taken: set[str] = set()
        self.ignore = tuple(ignore)

    def has(self, key: str) -> bool:
        """Whether the state dict holds ``key``."""
        return key in self.state

    def take(self, key: str, shape: tuple[int, ...]) -> np.ndarray:
        """The tensor ``key`` as a float64 array of exactly ``shape``."""
        if key not in self.state:
            raise ValueError(f"state_dict is missing the key {key!r} (expected shape {shape})")
        array = _as_array(self.state[key], key)
        if array.shape != tuple(shape):
            raise ValueError(f"state_dict[{key!r}] must have shape {tuple(shape)} for this "
                             f"config, got {array.shape}")
        self.taken.add(key)
        return array

    def take_tied(self, key: str, tied_to: np.ndarray) -> None:
        """A tensor that a tied checkpoint may repeat (or omit): if present it must equal
        ``tied_to``."""
        if key not in self.state:
            return
        array = self.take(key, tied_to.shape)
        if not np.array_equal(array, tied_to):
            raise ValueError(f"state_dict[{key!r}] differs from the tensor it is tied to "
                             f"(tie_word_embeddings is true); untie it in the config, or "
                             f"drop the key")

    def finish(self, hint: str = "") -> None:
        """Raise on the first key never taken (and not ignored), naming it."""
        left = sorted(key for key in self.state if key not in self.taken
                      and not any(key.endswith(part) for part in self.ignore))
        if left:
            more = f" (and {len(left) - 1} more)" if len(left) > 1 else ""
            raise ValueError(f"state_dict has an unexpected key {left[0]!r}{more}{hint}")


def hf_linear(reader: StateDictReader, prefix: str, n_in: int, n_out: int,
              bias: bool) -> dict[str, np.ndarray]:
    """A torch ``nn.Linear`` ``y = x W^T + b`` as refimpl's ``{"w": W^T, "b": b}``."""
    out = {"w": reader.take(prefix + ".weight", (n_out, n_in)).T.copy()}
    if bias:
        out["b"] = reader.take(prefix + ".bias", (n_out,))
    return out


def to_hf_linear(prefix: str, weight: np.ndarray,
                 bias: np.ndarray | None) -> dict[str, np.ndarray]:
    """The reverse of :func:`hf_linear`: ``{prefix.weight: W^T, prefix.bias: b}``."""
    out = {prefix + ".weight": np.ascontiguousarray(weight.T)}
    if bias is not None:
        out[prefix + ".bias"] = bias.copy()
    return out
