"""Converting between the interleaved and half RoPE layouts, for activations and checkpoints.

The interleaved layout pairs features ``(2k, 2k+1)``; the half layout pairs
``(k, k+P)``. For the same frequencies the two rotations are conjugate by one fixed
permutation ``pi`` of the rotary block: ``half(x[pi]) = interleaved(x)[pi]``. Applying
``pi`` to the rows of ``W_q`` and ``W_k`` (per head) therefore turns a Meta-layout
checkpoint into a Hugging Face one without changing a single attention score; this is
the ``permute`` of transformers' ``convert_llama_weights_to_hf.py``. Values and outputs
are never permuted.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from refimpl._validation import as_float_array, as_int, check_choice, check_ndim
from refimpl.rope.apply import LAYOUTS


def layout_permutation(dim: int, src: str, dst: str, *, rotary_dim: int | None = None
                       ) -> np.ndarray:
    """Index map ``perm`` with ``x_dst = x_src[..., perm]`` between the two pair layouts.

    With ``P = rotary_dim / 2`` and ``j < rotary_dim``:

    .. math::

        \\text{interleaved} \\to \\text{half}: \\;
        \\pi(j) = 2 (j \\bmod P) + \\lfloor j / P \\rfloor,
        \\qquad
        \\text{half} \\to \\text{interleaved}: \\;
        \\pi^{-1}(i) = (i \\bmod 2) P + \\lfloor i / 2 \\rfloor

    Features ``rotary_dim..dim-1`` (partial rotary) stay in place; ``src == dst`` gives
    the identity. Source: transformers 4.x
    ``models/llama/convert_llama_weights_to_hf.py`` (its ``permute``); torchtune
    ``models/convert_weights.py`` (``hf_to_tune``) applies the inverse.

    Parameters
    ----------
    dim : int
        Head dimension ``D``.
    src, dst : {"interleaved", "half"}
        The layout the data is in, and the one wanted.
    rotary_dim : int, optional
        Width of the rotary block, even, ``<= dim`` (default ``dim``).

    Returns
    -------
    ndarray of int, shape (dim,)

    Examples
    --------
    >>> layout_permutation(8, "interleaved", "half")
    array([0, 2, 4, 6, 1, 3, 5, 7])
    >>> layout_permutation(8, "half", "interleaved")
    array([0, 4, 1, 5, 2, 6, 3, 7])
    """
    dim = as_int(dim, "dim", minimum=0)
    check_choice(src, "src", LAYOUTS)
    check_choice(dst, "dst", LAYOUTS)
    rotary_dim = dim if rotary_dim is None else as_int(rotary_dim, "rotary_dim", minimum=0)
    if rotary_dim % 2 or rotary_dim > dim:
        raise ValueError(f"rotary_dim must be even and at most dim={dim}, "
                         f"got rotary_dim={rotary_dim}")
    pairs, index = rotary_dim // 2, np.arange(dim)
    j = index[:rotary_dim]
    if src == "interleaved" and dst == "half":
        index[:rotary_dim] = 2 * (j % pairs) + j // pairs
    elif src == "half" and dst == "interleaved":
        index[:rotary_dim] = (j % 2) * pairs + j // 2
    return index


#: Smallest head width :func:`permute_qk_rows` infers without ``head_dim=`` being said.
MIN_INFERRED_HEAD_DIM = 8


def permute_qk_rows(weight: ArrayLike, num_heads: int, src: str, dst: str, *,
                    rotary_dim: int | None = None, head_dim: int | None = None
                    ) -> np.ndarray:
    """Permute the rows of a q or k projection weight (or its bias), head by head.

    ``weight`` has ``num_heads * head_dim`` rows (the output features of ``W_q`` or
    ``W_k``; use ``num_heads = n_kv_heads`` for ``W_k`` under grouped-query attention).
    Within every head the rows are reordered by :func:`layout_permutation`:

    .. math:: W'[h D + j] = W[h D + \\pi(j)]

    ``src="interleaved", dst="half"`` is Meta -> Hugging Face (the conversion script's
    ``permute``); the reverse undoes it. A bias (1-D) gets the same map. Every
    attention score ``<R_m q, R_n k>`` is unchanged when the model's RoPE layout is
    switched along with the weights.

    Parameters
    ----------
    weight : array_like, shape (num_heads * head_dim,) or (num_heads * head_dim, in)
    num_heads : int
    src, dst : {"interleaved", "half"}
    rotary_dim : int, optional
        Rotary width within each head (default: the whole head).
    head_dim : int, optional
        Features per head; checked against the rows. Without it the width is inferred
        as ``rows / num_heads`` and must be at least 8 (:data:`MIN_INFERRED_HEAD_DIM`):
        a Flax/JAX ``(in, out)`` kernel passed where PyTorch's ``(out, in)`` belongs
        usually gives an implausibly small one, and is refused with the fix.

    Returns
    -------
    ndarray, same shape as ``weight``

    Examples
    --------
    >>> permute_qk_rows(np.arange(8.0), 2, "interleaved", "half", head_dim=4)
    array([0., 2., 1., 3., 4., 6., 5., 7.])
    """
    weight = as_float_array(weight, "weight")
    check_ndim(weight, "weight", 1)
    num_heads = as_int(num_heads, "num_heads", minimum=1)
    if weight.ndim > 2:
        raise ValueError(f"weight must be (rows,) or (rows, in), got shape {weight.shape}")
    rows = weight.shape[0]
    flax = (f"; if weight is a Flax/JAX (in, out) kernel of shape {weight.shape}, pass "
            "weight.T (PyTorch's (out, in) layout)" if weight.ndim == 2 else "")
    if head_dim is not None:
        head_dim = as_int(head_dim, "head_dim", minimum=2)
        if rows != num_heads * head_dim:
            raise ValueError(f"weight has {rows} rows, not num_heads * head_dim = "
                             f"{num_heads} * {head_dim} = {num_heads * head_dim}{flax}")
    elif rows % num_heads:
        raise ValueError(f"weight's {rows} rows do not split into num_heads={num_heads} "
                         f"heads{flax}")
    else:
        head_dim = rows // num_heads
        if head_dim < MIN_INFERRED_HEAD_DIM:
            raise ValueError(f"head_dim={head_dim} inferred from weight's {rows} rows and "
                             f"num_heads={num_heads} is implausibly small{flax}; pass "
                             "head_dim= to confirm it")
    perm = layout_permutation(head_dim, src, dst, rotary_dim=rotary_dim)
    rows = (np.arange(num_heads)[:, None] * head_dim + perm).reshape(-1)
    return weight[rows]
