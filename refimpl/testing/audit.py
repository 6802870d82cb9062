"""Audit of an installed library: the rotary embedding of every transformers model family.

``python -m refimpl audit transformers`` (or :func:`audit_transformers`) walks
``transformers.models``; for every family whose modeling file defines a
``*RotaryEmbedding`` module it builds the family's default configuration, instantiates the
text rotary embedding, wraps it and the family's ``apply_rotary_pos_emb`` with
:func:`refimpl.testing.adapters.cos_sin_pair`, identifies the convention
(:func:`refimpl.testing.rope_identify.identify_rope`) and runs
:func:`refimpl.testing.check_rope_pair` against the convention the configuration
describes: the frequency schedule of its ``rope_parameters`` (``rope_type``,
``rope_theta``, ``partial_rotary_factor``, ...; :func:`refimpl.testing.presets.hugging_face`)
in the layout the probe found (the configuration does not say which), or Qwen2-VL /
Qwen3-VL M-RoPE sections where the module has ``mrope_section``. The claim is float32
inputs and angles, what these modules compute in by default.

Each family becomes one row: the identified layout, base, rotary and head dimensions and
scaling, then ``pass``, the named departures, or why it could not be driven (no text
rotary module, a constructor that does not take a config, an apply function of another
shape, ...). Nothing here imports torch or transformers at import time: they are loaded
by :func:`importlib.import_module` when the audit runs.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np

from refimpl.rope.frequencies import ROPE_TYPES
from refimpl.rope.nd import mrope_frequencies
from refimpl.testing.adapters import as_numpy_function, cos_sin_pair
from refimpl.testing.presets import RopeConvention, hugging_face
from refimpl.testing.rope import check_rope_pair
from refimpl.testing.rope_identify import (
    axis_labels,
    find_pairs,
    identify_rope,
    name_layout,
    probe_matrices,
)

__all__ = ["AuditRow", "AuditTable", "audit_transformers", "rotary_families", "drive_family"]

#: Largest position probed (or the model's context, if shorter): float32 angles are
#: checked to 16 eps |angle| up to here, and the audit stays fast.
AUDIT_MAX_POSITION = 4095

#: Names of the functions that apply cos/sin tables, in the order tried.
APPLY_NAMES = ("apply_rotary_pos_emb", "apply_rotary_pos_emb_interleave", "apply_rotary_emb")

#: Keys of ``rope_parameters`` that are not arguments of the frequency schedule.
NOT_SCHEDULE = ("rope_type", "rope_theta", "partial_rotary_factor", "mrope_section",
                "mrope_interleaved", "type")


@dataclass(frozen=True)
class AuditRow:
    """One model family: what was found and whether it departs from its configuration."""

    family: str
    status: str  # "pass", "departs", "identified", "not driven"
    layout: str = ""
    base: str = ""
    rotary_dim: str = ""
    head_dim: str = ""
    scaling: str = ""
    detail: str = ""

    def cells(self) -> list[str]:
        """The row's table cells."""
        return [self.family, self.layout, self.base, self.rotary_dim, self.head_dim,
                self.scaling, self.status if not self.detail else f"{self.status}: {self.detail}"]


@dataclass(frozen=True)
class AuditTable:
    """The audit of one library version."""

    library: str
    version: str
    rows: tuple[AuditRow, ...]

    @property
    def driven(self) -> int:
        """Families driven automatically (checked or at least identified)."""
        return sum(row.status != "not driven" for row in self.rows)

    @property
    def coverage(self) -> float:
        """Fraction of the families with a rotary embedding that were driven."""
        return self.driven / max(len(self.rows), 1)

    @property
    def passed(self) -> bool:
        """True when no driven family departs from its configuration."""
        return not any(row.status == "departs" for row in self.rows)

    def summary(self) -> str:
        """One line: counts by status and the coverage."""
        counts = {s: sum(r.status == s for r in self.rows)
                  for s in ("pass", "departs", "identified", "not driven")}
        return (f"{len(self.rows)} families define a rotary embedding; driven automatically "
                f"{self.driven} ({100 * self.coverage:.0f}%): {counts['pass']} pass, "
                f"{counts['departs']} depart from their config, {counts['identified']} "
                f"identified only; {counts['not driven']} not driven")

    def text(self) -> str:
        """The table as aligned plain text."""
        header = ["family", "layout", "base", "rotary", "head", "scaling", "result"]
        table = [header] + [row.cells() for row in self.rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(header) - 1)]
        lines = [f"{self.library} {self.version}: rotary embeddings checked by refimpl"]
        for row in table:
            lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
                         + "  " + row[-1])
        return "\n".join(lines + ["", self.summary()])

    def markdown(self) -> str:
        """The table as a Markdown page (``docs/transformers_rope_audit.md``)."""
        lines = [f"# Rotary embeddings of {self.library} {self.version}, checked by refimpl", "",
                 "Generated by `python -m refimpl audit transformers --write "
                 "docs/transformers_rope_audit.md` (needs the `interop` extra); do not edit by "
                 "hand. For every model family whose modeling file defines a rotary embedding, "
                 "the family's default configuration drives its text rotary module and its "
                 "`apply_rotary_pos_emb` through `refimpl.testing.adapters.cos_sin_pair`; "
                 "`check_rope_pair` identifies the convention and compares it with the one the "
                 "configuration describes (float32 claim, positions up to "
                 f"{AUDIT_MAX_POSITION} or the model's context). The layout is what the probe "
                 "found; the configuration does not state it.", "", self.summary(), "",
                 "| family | layout | base | rotary dim | head dim | scaling | result |",
                 "|---|---|---|---|---|---|---|"]
        for row in self.rows:
            cells = [cell.replace("|", "/") for cell in row.cells()]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"


def rotary_families(only: str | None = None) -> list[tuple[str, Any]]:
    """``(family, modeling module or the import error)`` for every family of the installed
    transformers whose modeling file defines a ``*RotaryEmbedding`` class."""
    models = importlib.import_module("transformers.models")
    found: list[tuple[str, Any]] = []
    for info in pkgutil.iter_modules(models.__path__):
        if only is not None and only not in info.name:
            continue
        try:
            module = importlib.import_module(f"transformers.models.{info.name}.modeling_"
                                             f"{info.name}")
        except ModuleNotFoundError as error:
            if error.name and error.name.startswith("transformers.models."):
                continue  # a tokenizer-only family: no modeling file
            found.append((info.name, error))
            continue
        except Exception as error:  # a modeling file that cannot load here
            found.append((info.name, error))
            continue
        if _rotary_classes(module):
            found.append((info.name, module))
    return found


def _rotary_classes(module: Any) -> list[type]:
    """The ``*RotaryEmbedding`` classes defined in ``module``, text ones first."""
    classes = [value for name, value in vars(module).items() if inspect.isclass(value)
               and name.endswith("RotaryEmbedding") and value.__module__ == module.__name__]
    return sorted(classes, key=lambda c: ("Vision" in c.__name__, "Text" not in c.__name__,
                                          len(c.__name__)))


def _configs(family: str, module: Any) -> list[Any]:
    """Default configurations to try: the family's config classes, text ones first, and
    their text sub-configs."""
    try:
        configuration = importlib.import_module(f"transformers.models.{family}."
                                                f"configuration_{family}")
    except ImportError:
        return []
    base = importlib.import_module("transformers").PretrainedConfig
    classes = sorted((c for c in vars(configuration).values() if inspect.isclass(c)
                      and issubclass(c, base) and c is not base),
                     key=lambda c: ("Vision" in c.__name__ or "Audio" in c.__name__,
                                    "Text" not in c.__name__))
    configs = []
    for cls in classes:
        try:
            config = cls()
        except Exception:
            continue
        configs.append(config)
        text = getattr(config, "get_text_config", lambda: None)()
        if text is not None and text is not config:
            configs.append(text)
    return configs


def _rotary(family: str, module: Any) -> tuple[Any, Any] | str:
    """``(rotary module, its config)``, or the reason none could be built."""
    classes = [c for c in _rotary_classes(module) if "Vision" not in c.__name__]
    if not classes:
        return "only a vision rotary embedding (2-D patch grid, not driven by a text config)"
    errors = []
    for cls in classes:
        if "config" not in inspect.signature(cls).parameters:
            errors.append(f"{cls.__name__} is built from sizes, not a config")
            continue
        for config in _configs(family, module):
            try:
                return cls(config=config), config
            except Exception as error:
                errors.append(f"{cls.__name__}({type(config).__name__}): "
                              f"{type(error).__name__}")
    return "; ".join(dict.fromkeys(errors)) or "no default config could be built"


def _apply_forms(module: Any) -> list[tuple[str, Callable[..., Any]]]:
    """Candidate ``apply(q, k, tables...)`` functions as ``(name, apply(q, k, tables))``."""
    forms = []
    for name in APPLY_NAMES:
        apply = getattr(module, name, None)
        if apply is None:
            continue
        parameters = list(inspect.signature(apply).parameters)
        if parameters[:4] == ["q", "k", "cos", "sin"] or len(parameters) >= 3 and \
                parameters[1] in ("xk", "k", "key"):
            forms.append((name, apply))
        elif parameters[:3] in (["x", "cos", "sin"], ["tensor", "cos", "sin"]):
            single = apply
            forms.append((name, lambda q, k, *tables, f=single: (f(q, *tables), f(k, *tables))))
    return forms


def _layer_type(config: Any) -> str | None:
    """The layer type whose rope parameters to use when they differ per layer type:
    ``full_attention`` if present, else the first layer's type."""
    parameters = getattr(config, "rope_parameters", None) or {}
    layer_types = getattr(config, "layer_types", None) or [None]
    if parameters and all(isinstance(v, dict) for v in parameters.values()):
        # the dict's order varies between runs of some configs: choose by name
        if "full_attention" in parameters:
            return "full_attention"
        return layer_types[0] if layer_types[0] in parameters else sorted(parameters)[0]
    return "full_attention" if "full_attention" in layer_types else layer_types[0]


def _driver(rotary: Any, apply: Callable[..., Any], layout: str, mrope: bool,
            layer_type: str | None = None, partial: bool = False) -> Callable[..., Any]:
    """The kit's pair function over a rotary module and an apply function.

    ``layer_type`` is passed to rotary modules whose forward takes one (Gemma-3 style
    per-layer-type parameters); ``partial`` rotates only the leading ``cos.shape[-1]``
    features and passes the rest through, the glue Phi, Persimmon and StableLM keep in
    their attention module rather than in ``apply_rotary_pos_emb``.
    """
    takes_layer = "layer_type" in inspect.signature(rotary.forward).parameters
    torch = importlib.import_module("torch")

    def tables(x: Any, ids: Any) -> tuple[Any, Any]:
        out = rotary(x, ids, layer_type) if takes_layer else rotary(x, ids)
        return out if isinstance(out, tuple) else (out, None)

    def apply_tables(q: Any, k: Any, cos: Any, sin: Any) -> Any:
        if partial:
            width = cos.shape[-1]
            q_rot, k_rot = apply_tables_full(q[..., :width], k[..., :width], cos, sin)
            return (torch.cat([q_rot, q[..., width:]], dim=-1),
                    torch.cat([k_rot, k[..., width:]], dim=-1))
        return apply_tables_full(q, k, cos, sin)

    def apply_tables_full(q: Any, k: Any, cos: Any, sin: Any) -> Any:
        return apply(q, k, cos) if sin is None else apply(q, k, cos, sin)

    return cos_sin_pair(apply_tables, tables, tensor_layout=layout,
                        position_ids=(lambda p: p.T[:, None]) if mrope else None)


def _head_dim(config: Any, rotary: Any) -> int:
    """The head dimension the config describes."""
    head = getattr(config, "head_dim", None)
    if not head:
        head = config.hidden_size // config.num_attention_heads
    return int(head)


def _working_pair(module: Any, rotary: Any, head: int, mrope: bool,
                  layer_type: str | None) -> tuple[Callable[..., Any], str] | str:
    """The first (apply, layout, partial glue) combination that rotates ``(rows, head)``
    inputs."""
    forms = _apply_forms(module)
    if not forms:
        return "no apply function of the (q, k, cos, sin) or (x, cos, sin) form"
    rng = np.random.default_rng(0)
    q = rng.standard_normal((4, head))
    positions = np.array([[0, 1, 2, 3]] * 3).T if mrope else np.arange(4)
    errors = []
    for name, apply in forms:
        for layout, partial in (("BHTD", False), ("BTHD", False), ("BHTD", True)):
            pair = _driver(rotary, apply, layout, mrope, layer_type, partial)
            numpy_pair = as_numpy_function(pair, "torch", "float32")
            try:
                q_rot, k_rot = numpy_pair(q, q, positions)
            except Exception as error:
                cause = error.__cause__ or error
                errors.append(f"{name} ({layout}{', partial' if partial else ''}): "
                              f"{type(cause).__name__}: {str(cause).splitlines()[0][:80]}")
                continue
            if q_rot.shape == q.shape and np.all(np.isfinite(q_rot)) and \
                    not np.allclose(q_rot[1:], q[1:]):
                return pair, layout
    return "apply function could not be driven: " + "; ".join(dict.fromkeys(errors))


def _rope_parameters(config: Any) -> dict[str, Any]:
    """The config's rope parameters (5.x ``rope_parameters``; the entry of
    :func:`_layer_type` in a per-layer-type dict)."""
    parameters = getattr(config, "rope_parameters", None) or {}
    layer = _layer_type(config)
    nested = parameters and all(isinstance(v, dict) for v in parameters.values())
    return dict(parameters[layer] if nested and layer in parameters else parameters)


def _schedule(rope_type: str, parameters: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The parameters refimpl's schedule for ``rope_type`` takes, and those it ignores
    (e.g. Ministral-3's ``llama_4_scaling_beta``, which scales queries, not frequencies)."""
    accepted: Any = {}
    if rope_type in ROPE_TYPES:
        accepted = inspect.signature(cast(Callable[..., Any], ROPE_TYPES[rope_type])).parameters
    schedule = {k: v for k, v in parameters.items() if k not in NOT_SCHEDULE and v is not None}
    ignored = sorted(k for k in schedule if k not in accepted)
    return {k: v for k, v in schedule.items() if k in accepted}, ignored


def expected_convention(config: Any, rotary: Any, head: int, layout: str,
                        found_labels: str | None) -> RopeConvention:
    """The convention ``config`` describes, in the probed ``layout``.

    This reads the same fields as :func:`refimpl.testing.presets.hugging_face`
    (``rope_type``, ``rope_theta``, ``partial_rotary_factor``, the schedule's
    parameters); for M-RoPE (a rotary module with ``mrope_section``) the chunked
    (Qwen2-VL) or interleaved (Qwen3-VL) section map whose axis labels match the probe.
    """
    parameters = _rope_parameters(config)
    base = float(parameters.get("rope_theta", getattr(config, "rope_theta", 10000.0)))
    factor = parameters.get("partial_rotary_factor",
                            getattr(config, "partial_rotary_factor", 1.0)) or 1.0
    sections = getattr(rotary, "mrope_section", None)
    probed = layout if layout in ("interleaved", "half") else "half"
    if sections is not None:
        rotary_dim = int(head * float(factor))
        candidates = [RopeConvention(f"hf-mrope-{kind}", head,
                                     mrope_frequencies(rotary_dim, list(sections), base=base,
                                                       interleaved=kind == "interleaved"),
                                     probed, source="transformers models/qwen2_vl, qwen3_vl",
                                     parameters={"base": base, "mrope_section": list(sections),
                                                 "partial_rotary_factor": factor})
                      for kind in ("chunked", "interleaved")]
        matching = [c for c in candidates if axis_labels(c.frequencies) == found_labels]
        return (matching or candidates)[0]
    rope_type = parameters.get("rope_type", parameters.get("type", "default"))
    schedule, _ = _schedule(rope_type, parameters)
    if rope_type in ("dynamic", "longrope"):
        schedule.setdefault("max_position_embeddings", config.max_position_embeddings)
        schedule.setdefault("seq_len", config.max_position_embeddings)
    convention = hugging_face(head, rope_type, base, partial_rotary_factor=float(factor),
                              **schedule)
    return replace(convention, layout=probed)


def _base(value: Any) -> str:
    """A base for the table: 6 significant digits, or ``-`` when none was identified."""
    return f"{value:.6g}" if isinstance(value, float) else "-"


def _layout_and_sections(side: Callable[..., Any], head: int, mrope: bool,
                         limit: int) -> tuple[str, str | None]:
    """The layout (from one probe at position 1, cheap) and, for M-RoPE, the axis labels of
    the pairs (from a full identification)."""
    if mrope:
        found = identify_rope(side, head, 3, dtype="float32", max_position=limit)
        return found.layout, axis_labels(found.frequencies)
    matrices = probe_matrices(side, head, np.array([[1.0], [float(min(997, limit))]]))
    return name_layout(*find_pairs(matrices, 2.0**-23))[0], None


def drive_family(family: str, module: Any) -> AuditRow:
    """Build, drive and check one family's text rotary embedding (module notes)."""
    if isinstance(module, Exception):
        return AuditRow(family, "not driven", detail=f"modeling file does not import here: "
                                                       f"{type(module).__name__}: {module}"[:160])
    built = _rotary(family, module)
    if isinstance(built, str):
        return AuditRow(family, "not driven", detail=built)
    rotary, config = built
    head = _head_dim(config, rotary)
    mrope = getattr(rotary, "mrope_section", None) is not None
    working = _working_pair(module, rotary, head, mrope, _layer_type(config))
    if isinstance(working, str):
        return AuditRow(family, "not driven", head_dim=str(head), detail=working)
    pair, tensor_layout = working
    limit = min(AUDIT_MAX_POSITION, int(getattr(config, "max_position_embeddings", 2**16)) - 1)
    side = as_numpy_function(lambda x, p: pair(x, x, p)[0], "torch", "float32")
    layout, labels = _layout_and_sections(side, head, mrope, limit)
    parameters = _rope_parameters(config)
    sections = f"{labels[:37]}..." if labels and len(labels) > 40 else labels
    scaling = str(parameters.get("rope_type", "default")) + (f" M-RoPE [{sections}]" if mrope
                                                             else "")
    try:
        expect = expected_convention(config, rotary, head, layout, labels)
    except (TypeError, ValueError, KeyError) as error:
        found = identify_rope(side, head, 3 if mrope else 1, dtype="float32", max_position=limit)
        return AuditRow(family, "identified", found.layout, _base(found.base),
                        str(found.rotary_dim), str(head), scaling,
                        f"config not understood by refimpl's presets: {error}"[:160])
    report = check_rope_pair(pair, head_dim=head, expect=expect, dtype="float32",
                             framework="torch", max_position=limit)
    found_info = report.identified
    cells = {"layout": str(found_info.get("layout", layout)),
             "base": _base(found_info.get("base")),
             "rotary_dim": str(found_info.get("rotary dim", "")), "head_dim": str(head),
             "scaling": scaling}
    _, ignored = _schedule(str(parameters.get("rope_type", "default")), parameters)
    note = f"ignored config keys {ignored}" if ignored and not mrope else ""
    if report.passed:
        return AuditRow(family, "pass", **cells, detail=note)
    faults = list(dict.fromkeys(f.removeprefix("q: ").removeprefix("k: ")
                                for f in report.faults))
    failing = [r.name for r in report.rows if not r.passed]
    return AuditRow(family, "departs", **cells, detail="; ".join(faults or failing))


def audit_transformers(only: str | None = None) -> AuditTable:
    """Audit every model family of the installed transformers (module notes).

    Raises ``ImportError`` when transformers or torch is not installed.
    """
    transformers = importlib.import_module("transformers")
    importlib.import_module("torch")
    rows = []
    logging = transformers.logging
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # default configs warn about token ids; not our business
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for family, module in rotary_families(only):
            try:
                rows.append(drive_family(family, module))
            except Exception as error:  # a family the adapters cannot handle: listed, not fatal
                rows.append(AuditRow(family, "not driven",
                                     detail=f"{type(error).__name__}: {error}"[:160]))
    logging.set_verbosity(verbosity)
    return AuditTable("transformers", transformers.__version__, tuple(rows))
