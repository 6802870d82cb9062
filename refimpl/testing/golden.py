"""Golden vectors: refimpl's outputs on fixed inputs, as files any language can read.

``python -m refimpl vectors --out DIR`` (or :func:`write_vectors`) writes one ``.npz``
per case (NumPy's zip of ``.npy`` arrays; readers exist for C, C++, Rust, Julia, Go,
JavaScript) holding arrays ``inputs.<name>`` and ``outputs.<name>``, and a
``manifest.json`` listing, for every case, the function, its parameters, the input and
output names with shapes and dtypes, the tolerances to compare with, the file's sha256,
and the refimpl and NumPy versions. :func:`load_vectors` reads them back and verifies
every hash and every shape and dtype against the manifest. Arrays keep their exact
shapes (a 0-d ``attention_factor`` is stored 0-d) and positions are int64, as Hugging
Face's ``position_ids``.

Tolerances come from one error model, stated in the manifest: an implementation computing
in precision ``eps`` (float64, float32 or bfloat16) should meet
``|actual - expected| <= atol + rtol |expected|`` with ``rtol = SAFETY eps size`` and
``atol = rtol scale``, where ``SAFETY = 16`` (:mod:`refimpl.testing._tolerance`), ``size``
is the case's size factor (the worst-case bound ``n`` on the error of a length-``n`` sum,
N. J. Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., SIAM 2002,
§3.1, or ``1 + max|angle|`` for rotations by angles computed in that precision) and
``scale`` the magnitude of the case's data (``max|x|`` for RoPE, 1 otherwise). Each case
says which size factor it uses and why.

The output is deterministic: the inputs come from fixed seeds, the zip entries are
written in sorted order with a fixed timestamp (1980-01-01, the zip epoch) and no
compression, and the manifest is JSON with sorted keys. Two runs in the same environment
give identical bytes, so the files can be checked into another project and diffed.

Cases cover every refimpl module present: RoPE (both layouts, partial rotary, the
context-extension schedules, every named preset of :mod:`refimpl.testing.presets`, the
backward pass), Householder maps and products, the vMF normalizer, mean resultant
length, entropy and KL, a forward pass of the reference Transformer, and its building
blocks (norms, activations, masked RoPE attention, a similarity loss, a token mixer,
the dimension formula).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import refimpl
from refimpl.testing._tolerance import EPSILON, SAFETY

__all__ = ["GoldenCase", "golden_cases", "write_vectors", "load_vectors"]

#: Zip timestamp of every entry (the earliest a zip can store), so bytes never vary.
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

#: Precisions the manifest gives tolerances for.
TOLERANCE_DTYPES = ("float64", "float32", "bfloat16")

#: The error model, as written into the manifest.
ERROR_MODEL = ("rtol = SAFETY * eps(dtype) * size, atol = rtol * scale, SAFETY = 16; eps is "
               "the spacing of floats at 1 (float64 2^-52, float32 2^-23, bfloat16 2^-7); size "
               "is the case's size factor (size_rule says which), scale the magnitude of its "
               "data")


@dataclass(frozen=True, eq=False)
class GoldenCase:
    """One golden vector: ``outputs = function(inputs, **parameters)`` within tolerance.

    ``size`` and ``scale`` feed the error model (module notes); ``size_rule`` says where
    the size factor comes from. ``rtol`` and ``atol`` are the float64 tolerances;
    :meth:`tolerance` gives those of any precision.
    """

    name: str
    function: str
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    parameters: dict[str, Any] = field(default_factory=dict)
    size: float = 4.0
    size_rule: str = "a few roundings per output entry"
    scale: float = 1.0

    def tolerance(self, dtype: str = "float64") -> dict[str, float]:
        """``{"rtol", "atol"}`` for an implementation computing in ``dtype``.

        Examples
        --------
        >>> case = GoldenCase("c", "f", {}, {}, size=2.0, scale=3.0)
        >>> case.tolerance("float32") == {"rtol": 16 * 2.0**-23 * 2, "atol": 16 * 2.0**-23 * 6}
        True
        """
        rtol = SAFETY * EPSILON[dtype] * self.size
        return {"rtol": rtol, "atol": rtol * self.scale}

    @property
    def rtol(self) -> float:
        """Relative tolerance of a float64 implementation."""
        return self.tolerance()["rtol"]

    @property
    def atol(self) -> float:
        """Absolute tolerance of a float64 implementation."""
        return self.tolerance()["atol"]

    def manifest_entry(self) -> dict[str, Any]:
        """The case's description in ``manifest.json`` (without file name and hash)."""
        def describe(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
            return {k: {"shape": list(v.shape), "dtype": str(v.dtype)}
                    for k, v in sorted(arrays.items())}
        tolerance: dict[str, Any] = {dtype: self.tolerance(dtype) for dtype in TOLERANCE_DTYPES}
        tolerance.update(rtol=self.rtol, atol=self.atol, size=self.size, scale=self.scale,
                         size_rule=self.size_rule,
                         rule="|actual - expected| <= atol + rtol * |expected|")
        return {"name": self.name, "function": self.function, "parameters": self.parameters,
                "inputs": describe(self.inputs), "outputs": describe(self.outputs),
                "tolerance": tolerance}


#: Size rule of a rotation by angles computed in the implementation's precision.
ROTATION_RULE = ("1 + max|angle|: each angle computed in precision eps is off by eps |angle|, "
                 "the rotation adds a few roundings; scale = max|x|")


def _rotation(case_angles: np.ndarray, data: np.ndarray) -> dict[str, Any]:
    """``size``, ``size_rule`` and ``scale`` of a rotation case."""
    return {"size": 1.0 + float(np.max(np.abs(case_angles), initial=0.0)),
            "size_rule": ROTATION_RULE,
            "scale": max(1.0, float(np.max(np.abs(data), initial=0.0)))}


def _rope_cases() -> list[GoldenCase]:
    from refimpl import rope
    from refimpl.rope.frequencies import scaled_inv_freq
    from refimpl.testing import presets

    rng = np.random.default_rng(20240101)
    x = rng.standard_normal((6, 16))
    positions = np.array([0, 1, 2, 17, 1000, -3])
    cases = []
    for layout in ("interleaved", "half"):
        for rotary in (16, 8):
            angle = rope.angles(positions, rope.inv_freq(rotary, 10000.0))
            grad = rng.standard_normal(x.shape)
            gx, gangle, _, _ = rope.apply_vjp(grad, x, angle, layout=layout, rotary_dim=rotary)
            parameters = {"layout": layout, "rotary_dim": rotary, "base": 10000.0}
            cases.append(GoldenCase(
                f"rope.apply.{layout}.rotary{rotary}", "refimpl.rope.apply",
                {"x": x, "angles": angle, "positions": positions},
                {"y": rope.apply(x, angle, layout=layout, rotary_dim=rotary)}, parameters,
                **_rotation(angle, x)))
            cases.append(GoldenCase(
                f"rope.apply_vjp.{layout}.rotary{rotary}", "refimpl.rope.apply_vjp",
                {"grad": grad, "x": x, "angles": angle}, {"grad_x": gx, "grad_angles": gangle},
                parameters, **_rotation(angle, np.concatenate([gx.ravel(), gangle.ravel()]))))
    schedules: dict[str, dict[str, Any]] = {
        "linear": {"factor": 4.0},
        "dynamic": {"factor": 2.0, "max_position_embeddings": 4096, "seq_len": 8192},
        "yarn": {"factor": 32.0, "original_max_position_embeddings": 4096, "truncate": False},
        "llama3": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192},
        "longrope": {"short_factor": [1.0] * 32, "long_factor": list(np.linspace(1, 8, 32)),
                     "original_max_position_embeddings": 4096, "seq_len": 8192,
                     "max_position_embeddings": 131072},
    }
    for rope_type, parameters in schedules.items():
        base = 150000.0 if rope_type == "yarn" else 500000.0
        omega, factor = scaled_inv_freq(rope_type, 64, base, **parameters)
        cases.append(GoldenCase(
            f"rope.schedule.{rope_type}", "refimpl.rope.frequencies.scaled_inv_freq", {},
            {"inv_freq": omega, "attention_factor": np.array(factor)},
            {"rope_type": rope_type, "rotary_dim": 64, "base": base, **parameters},
            size=1.0 + float(np.log(base)), size_rule="1 + log(base): base^(-2k/R) computed "
            "as exp(-(2k/R) log base) carries the relative error of its exponent"))
    for name, builder in sorted(presets.PRESETS.items()):
        convention = builder(**presets.EXAMPLE_SETTINGS[name])
        grid = rng.integers(0, 64, size=(5, convention.n_axes))
        grid = grid[:, 0] if convention.n_axes == 1 else grid
        q = rng.standard_normal((5, convention.head_dim))
        settings = {**convention.parameters, **presets.EXAMPLE_SETTINGS[name]}
        cases.append(GoldenCase(
            f"rope.preset.{name}", f"refimpl.testing.presets.preset({name!r})",
            {"x": q, "positions": grid},
            {"y": convention(q, grid), "frequencies": convention.frequencies},
            {"preset": name, **settings, "head_dim": convention.head_dim,
             "layout": convention.layout, "rotary_dim": convention.rotary_dim,
             "rotary_start": convention.rotary_start,
             "position_offset": list(convention.position_offset),
             "magnitude": convention.magnitude, "source": convention.source},
            **_rotation(convention.angles(grid), q)))
    return cases


def _householder_cases() -> list[GoldenCase]:
    from refimpl import householder

    rng = np.random.default_rng(20240102)
    a, b = rng.standard_normal((2, 5))
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    x = rng.standard_normal((3, 5))
    maps: dict[str, Any] = {"size": 10.0, "scale": float(np.max(np.abs(x))),
                            "size_rule": "2 d (d = 5): two inner products of length d and "
                                         "the update"}
    cases = [GoldenCase(f"householder.{name}", f"refimpl.householder.{name}",
                        {"x": x, "a": a, "b": b}, {"y": getattr(householder, name)(x, a, b)},
                        **maps)
             for name in ("householder_map", "rotation_map", "symmetric_map", "stable_map")]
    v = rng.standard_normal(5)
    cases.append(GoldenCase("householder.reflect", "refimpl.householder.reflect",
                            {"x": x, "v": v}, {"y": householder.reflect(x, v)}, **maps))
    products: dict[str, Any] = {"size": 28.0, "size_rule": "m k = 7 x 4: k reflections, each "
                                "with inner products of length m (LAPACK xGEQRF / xORGQR)"}
    A = rng.standard_normal((7, 4))
    V, tau = householder.householder_qr(A)
    cases.append(GoldenCase("householder.householder_qr", "refimpl.householder.householder_qr",
                            {"A": A}, {"V": V, "tau": tau}, **products,
                            scale=float(np.max(np.abs(A)))))
    tau_random = rng.uniform(0.2, 1.8, size=3)
    cases.append(GoldenCase(
        "householder.householder_product", "refimpl.householder.householder_product",
        {"V": V, "tau": tau_random}, {"Q": householder.householder_product(V, tau_random)},
        **products))
    return cases


def _vmf_cases() -> list[GoldenCase]:
    from refimpl.vmf import distribution

    dims = np.array([2, 3, 5, 10, 100, 1000, 10000, 100000])
    kappa = 10.0 ** np.array([-10.0, -3.0, 0.0, 1.0, 2.0, 4.0, 6.0, 10.0])
    return [GoldenCase(f"vmf.{name}", f"refimpl.vmf.{name}", {"d": dims, "kappa": kappa},
                       {"value": np.array([getattr(distribution, name)(int(d), kappa)
                                           for d in dims])},
                       {"layout": "value[i, j] = f(d[i], kappa[j])"}, size=32.0,
                       size_rule="32: a log-Bessel ratio by series, continued fraction or "
                       "uniform asymptotics, each a few dozen roundings")
            for name in ("log_normalizer", "mean_resultant_length", "entropy",
                         "kl_to_uniform")]


def _flatten(tree: Any, prefix: str) -> dict[str, np.ndarray]:
    """A nested dict/list of arrays as ``{"prefix.a.0.b": array}``."""
    items: Any
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        return {prefix: np.asarray(tree)}
    flat: dict[str, np.ndarray] = {}
    for key, value in items:
        flat.update(_flatten(value, f"{prefix}.{key}"))
    return flat


def _transformer_cases() -> list[GoldenCase]:
    from dataclasses import asdict

    from refimpl import transformer
    from refimpl.masks import causal_mask

    config = transformer.TransformerConfig(
        vocab_size=13, d_model=16, n_heads=2, head_dim=8, d_ff=24, n_layers=2, norm="rmsnorm",
        activation="swiglu", rope_layout="half", rotary_dim=4, tie_output=False)
    params = transformer.init_params(config, rng=20240103, std=0.2)
    tokens = np.array([[1, 5, 7, 2, 12, 0]])
    logits, _ = transformer.forward(params, config, tokens, causal_mask(6))
    return [GoldenCase("transformer.forward.causal", "refimpl.transformer.forward",
                       {"tokens": tokens, **_flatten(params, "params")}, {"logits": logits},
                       {"config": asdict(config), "mask": "causal",
                        "params": "inputs params.<path> (the init_params tree)"},
                       size=float(config.n_layers * (config.d_model + config.d_ff + 6)),
                       size_rule="n_layers (d_model + d_ff + T): per layer the longest sums "
                       "run over d_model (projections, norms), d_ff and the T = 6 tokens")]


def _building_block_cases() -> list[GoldenCase]:
    from refimpl import activations, attention, dimension, masks, mixers, norms, similarity

    rng = np.random.default_rng(20240104)
    x = rng.standard_normal((3, 8))
    gain, bias = rng.standard_normal((2, 8))
    features: dict[str, Any] = {"size": 16.0, "scale": float(np.max(np.abs(gain))),
                                "size_rule": "2 d (d = 8): mean and variance are sums of "
                                             "length d"}
    cases = [GoldenCase("norms.layer_norm", "refimpl.norms.layer_norm",
                        {"x": x, "gain": gain, "bias": bias},
                        {"y": norms.layer_norm(x, gain, bias)}, {"eps": 1e-5}, **features),
             GoldenCase("norms.rms_norm", "refimpl.norms.rms_norm", {"x": x, "gain": gain},
                        {"y": norms.rms_norm(x, gain)}, {"eps": 1e-6}, **features)]
    grid = np.linspace(-6.0, 6.0, 25)
    cases += [GoldenCase(f"activations.{name}", f"refimpl.activations.{name}", {"x": grid},
                         {"y": getattr(activations, name)(grid)}, size=8.0,
                         size_rule="8: an erf, tanh or exp and a few products",
                         scale=6.0)
              for name in ("gelu", "gelu_tanh", "silu")]
    q, k, v = rng.standard_normal((3, 2, 5, 4))
    segments = np.array([0, 0, 1, 1, 1])
    mask = masks.unilm_mask(segments)
    angle = rng.standard_normal((5, 2))
    cases.append(GoldenCase(
        "attention.scaled_dot_product_attention.unilm_rope",
        "refimpl.attention.scaled_dot_product_attention",
        {"q": q, "k": k, "v": v, "mask": mask, "segment_ids": segments, "angles": angle},
        {"output": attention.scaled_dot_product_attention(q, k, v, mask, angles=angle)},
        {"scale": True, "layout": "interleaved", "mask": "unilm_mask(segment_ids)"},
        size=2.0 * (4 + 5) + float(np.max(np.abs(angle))), size_rule="2 (d + T) + max|angle|: "
        "scores sum over d = 4, softmax and values over T = 5, RoPE angles"))
    u, w = rng.standard_normal((2, 6, 8))
    labels = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    cases.append(GoldenCase("similarity.cosent_loss", "refimpl.similarity.cosent_loss",
                            {"u": u, "v": w, "labels": labels},
                            {"loss": np.asarray(similarity.cosent_loss(u, w, labels))},
                            {"scale": 20.0}, size=20.0 * 2 * 8 + 15, size_rule="20 x 2 d + "
                            "pairs: cosines (sums of length d = 8) scaled by 20, then a "
                            "log-sum-exp over the 15 pairs"))
    cases.append(GoldenCase("mixers.fnet_mixing", "refimpl.mixers.fnet_mixing", {"x": x},
                            {"y": mixers.fnet_mixing(x)}, size=22.0,
                            size_rule="2 (3 + 8): a DFT over each axis is a sum of its length",
                            scale=float(np.max(np.abs(x)))))
    counts = np.array([2.0, 64.0, 1024.0])
    cases.append(GoldenCase("dimension.h_n", "refimpl.dimension.h_n", {"n": counts},
                            {"h_n": dimension.h_n(counts)}, size=4.0 * 1024,
                            size_rule="4 max(n): h_n is a difference of two terms of size up to "
                            "n, each a log-sum-exp over the quadrature nodes"))
    return cases


#: Case builders, one per module; a builder whose module is absent is skipped.
CASE_BUILDERS: tuple[Callable[[], list[GoldenCase]], ...] = (
    _rope_cases, _householder_cases, _vmf_cases, _transformer_cases, _building_block_cases)


def golden_cases() -> list[GoldenCase]:
    """Every golden case of the modules present, in a fixed order."""
    cases = []
    for builder in CASE_BUILDERS:
        try:
            cases += builder()
        except ImportError:  # that module has not been written or installed
            continue
    return cases


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` archive of ``arrays`` with sorted entries, fixed timestamps, no compression."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            entry = io.BytesIO()
            array = np.asarray(arrays[name])  # 0-d stays 0-d (ascontiguousarray makes it 1-d)
            np.lib.format.write_array(entry, array if array.flags.c_contiguous
                                      else array.copy(order="C"),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.create_system = 3
            archive.writestr(info, entry.getvalue())
    return buffer.getvalue()


def _jsonable(value: Any) -> Any:
    """Parameters as plain JSON (NumPy scalars and arrays to numbers and lists)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_vectors(directory: str | Path) -> dict[str, Any]:
    """Write every golden case to ``directory`` (created if needed); return the manifest.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as out:
    ...     manifest = write_vectors(out)
    ...     cases = load_vectors(out)
    >>> len(cases) == len(manifest["cases"]) > 0
    True
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for case in golden_cases():
        arrays = {**{f"inputs.{k}": v for k, v in case.inputs.items()},
                  **{f"outputs.{k}": v for k, v in case.outputs.items()}}
        data = _npz_bytes(arrays)
        file = f"{case.name}.npz"
        (directory / file).write_bytes(data)
        entries.append({**case.manifest_entry(), "file": file,
                        "sha256": hashlib.sha256(data).hexdigest()})
    manifest = _jsonable({"format": 2, "refimpl_version": refimpl.__version__,
                          "numpy_version": np.__version__, "error_model": ERROR_MODEL,
                          "cases": entries})
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True)
                                             + "\n")
    return manifest


def load_vectors(directory: str | Path) -> dict[str, GoldenCase]:
    """Read golden vectors written by :func:`write_vectors`, verifying every sha256.

    Returns
    -------
    dict
        Case name -> :class:`GoldenCase` with the stored inputs, outputs, parameters and
        tolerance.

    Raises
    ------
    ValueError
        The manifest is missing, a file is missing, its hash differs from the manifest's,
        or its arrays, their shapes or dtypes differ from those listed (the message names
        the file and the array).
    """
    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise ValueError(f"directory={str(directory)!r} has no manifest.json")
    manifest = json.loads(manifest_path.read_text())
    cases = {}
    for entry in manifest["cases"]:
        path = directory / entry["file"]
        if not path.is_file():
            raise ValueError(f"golden file {entry['file']!r} listed in the manifest is missing")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise ValueError(f"golden file {entry['file']!r} does not match its sha256 in "
                             f"manifest.json (modified or corrupted)")
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        _verify_arrays(entry, arrays)
        tolerance = entry["tolerance"]
        cases[entry["name"]] = GoldenCase(
            entry["name"], entry["function"], _pick(arrays, "inputs."), _pick(arrays, "outputs."),
            entry["parameters"], tolerance["size"], tolerance["size_rule"], tolerance["scale"])
    return cases


def _pick(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The arrays whose name starts with ``prefix``, without it."""
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _verify_arrays(entry: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """Raise ``ValueError`` unless the file holds exactly the listed arrays, with the
    listed shapes and dtypes."""
    listed = {f"{side}.{k}": spec for side in ("inputs", "outputs")
              for k, spec in entry[side].items()}
    if set(arrays) != set(listed):
        raise ValueError(f"golden file {entry['file']!r} holds {sorted(arrays)}, the "
                         f"manifest lists {sorted(listed)}")
    for key, spec in sorted(listed.items()):
        array = arrays[key]
        if list(array.shape) != list(spec["shape"]) or str(array.dtype) != spec["dtype"]:
            raise ValueError(f"golden file {entry['file']!r}: {key} has shape "
                             f"{list(array.shape)} and dtype {array.dtype}, the manifest lists "
                             f"shape {spec['shape']} and dtype {spec['dtype']}")
