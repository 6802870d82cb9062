"""refimpl's pytest plugin hooks (the ``pytest11`` entry point): options, and nothing else.

pytest loads this module in every run of every project where refimpl is installed, so
it imports nothing but pytest: with none of its options given it adds ``--refimpl-*``
to ``pytest --help`` and does nothing more. With an option such as
``--refimpl-rope=mypkg.rope:apply_rope``, it hands collection to
:mod:`refimpl.testing.plugin`, which builds one test per property of that kind.
(A separate module because importing anything under ``refimpl.testing`` imports the
whole conformance kit, NumPy and SciPy included.)
"""

from __future__ import annotations

import pytest

#: ``--refimpl-KIND`` options: the implementation of each kind, as ``module:function``.
KIND_OPTIONS = {
    "rope": "RoPE fn(x, positions) -> rotated x",
    "rope-pair": "q/k RoPE fn(q, k, positions) -> (q_rot, k_rot)",
    "rope-nd": "N-D RoPE fn(x, positions (rows, n_axes))",
    "orthogonal-map": "orthogonal map a -> b, fn(x, a, b) -> T x (or --refimpl-map-form=matrix)",
    "householder-product": "Householder product fn(V, tau) -> Q (LAPACK xORGQR)",
    "vmf-sampler": "vMF sampler fn(mu, kappa, n, seed) -> (n, d)",
    "vmf-log-normalizer": "vMF log-normalizer fn(d, kappa) -> log C_d(kappa)",
    "attention": "attention kernel fn(q, k, v, mask) -> out",
    "vjp": "backward fn_vjp(g, *args) (with --refimpl-vjp-of and/or --refimpl-vjp-forward)",
    "widening": "a refimpl.testing.properties.widening.WideningSubject object",
}

#: Settings shared by the kinds: ``(option, help)``.
SETTINGS = (
    ("expect", "RoPE convention the function claims, a preset: hf-default, "
               "hf-yarn:factor=4,original_max_position_embeddings=32768, ..."),
    ("head-dim", "feature dimension of a RoPE function (default: the preset's)"),
    ("n-axes", "number of position axes of an N-D RoPE (default 2)"),
    ("omega-max", "largest frequency of an N-D RoPE (default 1)"),
    ("dtype", "precision the function computes in: float64 (default), float32, float16, "
              "bfloat16; sets every tolerance"),
    ("framework", "convert inputs to numpy, torch or jax arrays before calling"),
    ("map-form", "orthogonal map: apply (fn(x, a, b), default) or matrix (fn(a, b))"),
    ("determinant", "orthogonal map: claimed determinant, +1, -1, (-1)^(d-1) or stable"),
    ("complement", "orthogonal map: sign on span(a, b)^perp, +1, -1 or stable-complement"),
    ("singular", "orthogonal map: singular point, both (default), a-b, a+b or none"),
    ("attention-vjp", "attention backward fn_vjp(g, q, k, v, mask) -> (dq, dk, dv)"),
    ("fully-masked", "attention: 'zeros' claims zero outputs for queries with no key"),
    ("vjp-forward", "the forward fn(*args) of --refimpl-vjp (default: the reference's)"),
    ("vjp-of", "refimpl reference of --refimpl-vjp: rope.apply, "
               "householder.householder_product, householder.stable_map, "
               "attention.scaled_dot_product_attention"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--refimpl-*`` options (group "refimpl properties")."""
    group = parser.getgroup("refimpl", "refimpl properties (run on your implementation)")
    for kind, text in KIND_OPTIONS.items():
        group.addoption(f"--refimpl-{kind}", metavar="MODULE:NAME", default=None,
                        help=f"run refimpl's properties of a {text}")
    for name, text in SETTINGS:
        group.addoption(f"--refimpl-{name}", default=None, help=text)


def chosen_kinds(config: pytest.Config) -> dict[str, str]:
    """``{kind: "module:name"}`` for every ``--refimpl-KIND`` given."""
    chosen = {}
    for kind in KIND_OPTIONS:
        value = config.getoption(f"--refimpl-{kind}")
        if value:
            chosen[kind] = value
    return chosen


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Append the property tests of the chosen kinds (before ``-k`` and deselection)."""
    chosen = chosen_kinds(config)
    if not chosen:
        return
    from refimpl.testing.plugin import command_line_items

    items.extend(command_line_items(session, config, chosen))
