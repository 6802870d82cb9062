"""Conformance kit: check another framework's function against refimpl.

Give it your PyTorch, JAX, TF or NumPy function; it probes the function, says which
convention it implements, shows where and by how much it departs from refimpl's float64
ground truth, and runs refimpl's properties on it. Each check returns a
:class:`~refimpl.testing.report.Report` whose ``str()`` is a readable table and whose
``passed`` a test can assert.

* :func:`check_rope` -- RoPE ``fn(x, positions)``: layout, rotary dim, base, position
  scaling and offset, magnitude; relative invariance, orthogonality, the error as a
  function of the position; faults against an expected preset
  (:mod:`refimpl.testing.presets`: Hugging Face ``rope_type`` s, Meta, GPT-NeoX, GPT-J,
  lucidrains, timm, Qwen2/3-VL M-RoPE, Llama-4 vision).
* :func:`check_rope_pair` -- the q/k form ``fn(q, k, positions) -> (q_rot, k_rot)``.
* :func:`check_vjp` -- a foreign backward pass against refimpl's hand-written VJP.
* :func:`check_householder_product`, :func:`check_orthogonal_map`.
* :func:`check_vmf_sampler`, :func:`check_vmf_log_normalizer`.
* :func:`write_vectors` / :func:`load_vectors` -- golden vectors for other languages.
* :mod:`refimpl.testing.strategies` -- Hypothesis strategies (needs the ``test`` extra,
  which provides Hypothesis; nothing else here imports it).
* :mod:`refimpl.testing.adapters` -- PyTorch/JAX/NumPy array conversion; frameworks are
  never imported unless present.

Examples
--------
>>> import numpy as np
>>> from refimpl.testing import check_rope, preset
>>> def my_rope(x, positions):  # a NumPy stand-in for a framework function
...     inv_freq = 1.0 / 10000 ** (np.arange(0, 8, 2) / 8)
...     phi = np.concatenate([positions[:, None] * inv_freq] * 2, axis=-1)
...     rotated = np.concatenate([-x[:, 4:], x[:, :4]], axis=-1)
...     return x * np.cos(phi) + rotated * np.sin(phi)
>>> report = check_rope(my_rope, head_dim=8, expect=preset("hf-default", head_dim=8))
>>> report.passed, report.identified["layout"], report.identified["base"]
(True, 'half', 10000.0)
"""

from refimpl.testing.adapters import as_numpy_function, framework_of, from_numpy, to_numpy
from refimpl.testing.golden import GoldenCase, load_vectors, write_vectors
from refimpl.testing.householder import check_householder_product, check_orthogonal_map
from refimpl.testing.presets import PRESETS, RopeConvention, preset
from refimpl.testing.report import Curve, Report, Row
from refimpl.testing.rope import check_rope, check_rope_pair, identify_rope
from refimpl.testing.vjp import check_vjp
from refimpl.testing.vmf import check_vmf_log_normalizer, check_vmf_sampler

__all__ = [
    "check_rope", "check_rope_pair", "identify_rope", "check_vjp", "check_householder_product",
    "check_orthogonal_map", "check_vmf_sampler", "check_vmf_log_normalizer", "RopeConvention",
    "PRESETS", "preset", "Report", "Row", "Curve", "GoldenCase", "write_vectors",
    "load_vectors", "as_numpy_function", "framework_of", "from_numpy", "to_numpy",
]
