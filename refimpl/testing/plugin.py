"""refimpl's properties as pytest tests of *your* implementation: one test per property.

In a test file, one line per implementation::

    from refimpl.testing.plugin import rope_properties
    from refimpl.testing.presets import preset

    test_my_rope = rope_properties(my_rope, expect=preset("hf-default", head_dim=128))

collects ``test_my_rope[relative_position_invariance]``, ``test_my_rope[agreement]``,
... (pytest parametrizes the one function over the properties of the kind). From the
command line, without writing a test (the hooks of :mod:`refimpl.pytest_plugin`)::

    pytest --refimpl-rope=mypkg.rope:apply_rope --refimpl-expect=hf-default

adds items ``refimpl::rope[relative_position_invariance]``, ... Each test draws its
inputs from :mod:`refimpl.testing.strategies` with the Hypothesis settings of the
running profile (``--hypothesis-profile``, ``settings.load_profile``), or runs over a
fixed grid for the statistical properties of a vMF sampler. A failure prints the
property, its measurement and tolerance, the input arrays with their shapes, and the
faults the kit can name (after Hypothesis has shrunk the input, the kit probes the
implementation once, e.g. :func:`refimpl.testing.check_rope`).

This module needs pytest and Hypothesis (refimpl's ``test`` extra).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refimpl.testing import strategies as rst
from refimpl.testing.presets import RopeConvention, preset
from refimpl.testing.properties import KINDS, Case, Property, PropertyFailure, PropertyResult
from refimpl.testing.properties import attention as attention_properties_module
from refimpl.testing.properties import householder_product as product_module
from refimpl.testing.properties import maps as maps_module
from refimpl.testing.properties import rope as rope_module
from refimpl.testing.properties import rope_nd as rope_nd_module
from refimpl.testing.properties import vjp as vjp_module
from refimpl.testing.properties import vmf as vmf_module
from refimpl.testing.properties import widening as widening_module

__all__ = ["rope_properties", "rope_pair_properties", "rope_nd_properties",
           "orthogonal_map_properties", "householder_product_properties",
           "vmf_sampler_properties", "vmf_log_normalizer_properties", "vjp_properties",
           "widening_properties", "attention_properties", "property_tests", "run_property",
           "command_line_items"]

#: A named test body: ``(id, run)``; ``run()`` raises on failure.
Entry = tuple[str, Callable[[], None]]


def _strategy(prop: Property, subject: Any,
              overrides: dict[str, st.SearchStrategy[Case]]) -> st.SearchStrategy[Case]:
    """The Hypothesis strategy of a property's cases for this subject."""
    if prop.strategy in overrides:
        return overrides[prop.strategy]
    builders: dict[str, Callable[[], st.SearchStrategy[Case]]] = {
        "rope_cases": lambda: rst.rope_cases(subject.head_dim,
                                             integer=subject.integer_positions),
        "rope_nd_cases": lambda: rst.rope_nd_cases(subject.head_dim, subject.n_axes),
        "grid_case": lambda: st.just(Case()),
        "map_cases": lambda: rst.map_cases(st.integers(2, 32)),  # d = 1: no map of fixed det
        "product_cases": lambda: rst.product_cases(),
        "normalizer_cases": lambda: rst.normalizer_cases(),
        "attention_cases": lambda: rst.attention_cases(),
        "seeds": lambda: rst.seeds(),
    }
    if prop.strategy not in builders:
        raise ValueError(f"property {prop.id} needs a strategy {prop.strategy!r}: pass it "
                         f"(e.g. inputs= or arguments=)")
    return builders[prop.strategy]()


#: Faults found by each subject's diagnosis, so that several failing properties of one
#: implementation probe it once (keyed by the subject object; results never change).
_DIAGNOSES: weakref.WeakKeyDictionary[Any, dict[Any, tuple[str, ...]]] = \
    weakref.WeakKeyDictionary()


def _diagnosis(prop: Property, subject: Any) -> tuple[str, ...]:
    """``prop.diagnose(subject)``, computed once per subject and diagnosis."""
    if prop.diagnose is None:
        return ()
    known = _DIAGNOSES.setdefault(subject, {})
    if prop.diagnose not in known:
        try:
            known[prop.diagnose] = prop.diagnose(subject)
        except Exception as problem:  # diagnosis is a help; its failure must not hide ours
            known[prop.diagnose] = (f"(diagnosis failed: {type(problem).__name__}: "
                                    f"{problem})",)
    return known[prop.diagnose]


def _diagnosed(error: PropertyFailure, prop: Property, subject: Any) -> PropertyFailure:
    """The failure with the faults of ``prop.diagnose`` added, keeping Hypothesis' notes."""
    faults = _diagnosis(prop, subject)
    failure = PropertyFailure(error.result.with_faults(faults), show_case=error.show_case)
    notes = getattr(error, "__notes__", None)  # Hypothesis' falsifying example
    if notes:
        failure.__notes__ = list(notes)  # type: ignore[attr-defined]  # add_note is 3.11+
    return failure


def _grid_run(prop: Property, subject: Any, cases: list[Case]) -> None:
    """Run a property on a fixed list of cases; fail with the worst, listing all failures."""
    results: list[PropertyResult] = [prop.check(subject, case) for case in cases]
    failed = [result for result in results if not result.passed]
    if failed:
        worst = max(failed, key=lambda r: r.measured - r.tolerance)
        listing = tuple(f"fails at {result.detail.split(':')[0]}" for result in failed)
        raise PropertyFailure(worst.with_faults(listing))


def run_property(prop: Property, subject: Any,
                 overrides: dict[str, st.SearchStrategy[Case]] | None = None
                 ) -> Callable[[], None]:
    """The body of one property test: Hypothesis over the strategy, or the fixed grid.

    The ``@given`` test is built when the body runs, so it takes the Hypothesis
    settings of the profile active then; its name (hence its example-database key) is
    the property's id.
    """
    overrides = overrides or {}

    def run() -> None:
        __tracebackhide__ = True  # pytest shows the property's message, not this frame
        try:
            if prop.grid is not None:
                _grid_run(prop, subject, prop.grid(subject))
                return
            strategy = _strategy(prop, subject, overrides)

            def check(case: Case) -> None:
                __tracebackhide__ = True
                result = prop.check(subject, case)
                if not result.passed:  # Hypothesis prints the case itself
                    raise PropertyFailure(result, show_case=False)

            label = re.sub(r"\W", "_", str(getattr(subject, "name", "")))
            check.__name__ = check.__qualname__ = f"{prop.kind}_{prop.name}_of_{label}"
            # The user's profile, except that slow generation is not the user's failure:
            # the first draws of refimpl's array strategies are slow on a cold,
            # loaded machine (Hypothesis's too_slow check then fails a correct run).
            slow = [HealthCheck.too_slow, HealthCheck.data_too_large]
            quiet = settings(suppress_health_check=[
                *settings().suppress_health_check, *slow])
            quiet(given(case=strategy)(check))()
        except PropertyFailure as error:
            raise _diagnosed(error, prop, subject) from None

    run.__name__ = prop.name
    return run


def property_tests(kind: str, subject: Any,
                   overrides: dict[str, st.SearchStrategy[Case]] | None = None,
                   prefix: str = "") -> list[Entry]:
    """``(id, run)`` for every property of ``kind`` that applies to ``subject``."""
    return [(prefix + prop.name, run_property(prop, subject, overrides))
            for prop in KINDS[kind] if prop.applies(subject)]


def _collectable(entries: Sequence[Entry]) -> Callable[..., None]:
    """One pytest test function parametrized over the entries (ids = property names)."""
    def test(refimpl_property: Callable[[], None]) -> None:
        __tracebackhide__ = True
        refimpl_property()

    params = [pytest.param(run, id=name) for name, run in entries]
    marked: Callable[..., None] = pytest.mark.parametrize("refimpl_property", params)(test)
    return marked


def _expectation(expect: RopeConvention | str | None, head_dim: int | None
                 ) -> tuple[RopeConvention | None, int]:
    if isinstance(expect, str):
        expect = preset(expect, **({} if head_dim is None else {"head_dim": head_dim}))
    if head_dim is None:
        if expect is None:
            raise ValueError("give head_dim (or an expect preset, which has one)")
        head_dim = expect.head_dim
    return expect, int(head_dim)


def _rope_entries(fn: Callable[..., Any], expect: RopeConvention | str | None,
                  head_dim: int | None, options: dict[str, Any]) -> list[Entry]:
    convention, size = _expectation(expect, head_dim)
    return property_tests("rope", rope_module.rope_subject(fn, head_dim=size,
                                                           expect=convention, **options))


def rope_properties(fn: Callable[..., Any], *, expect: RopeConvention | str | None = None,
                    head_dim: int | None = None, dtype: str = "float64",
                    framework: str | None = None, integer_positions: bool = True
                    ) -> Callable[..., None]:
    """The RoPE properties of ``fn(x, positions)`` as one parametrized pytest test.

    ``expect``: a :class:`~refimpl.testing.presets.RopeConvention` or a preset spec
    (``"hf-yarn:factor=4"``); ``head_dim`` defaults to the preset's. Assign the result
    to a ``test_*`` name in a test module.
    """
    return _collectable(_rope_entries(fn, expect, head_dim, dict(
        dtype=dtype, framework=framework, integer_positions=integer_positions)))


def _rope_pair_entries(fn: Callable[..., Any], expect: RopeConvention | str | None,
                       head_dim: int | None, options: dict[str, Any]) -> list[Entry]:
    convention, size = _expectation(expect, head_dim)
    subject = rope_module.rope_pair_subject(fn, head_dim=size, expect=convention, **options)
    return (property_tests("rope_pair", subject)
            + property_tests("rope", subject.side(0), prefix="q.")
            + property_tests("rope", subject.side(1), prefix="k."))


def rope_pair_properties(fn: Callable[..., Any], *, expect: RopeConvention | str | None = None,
                         head_dim: int | None = None, dtype: str = "float64",
                         framework: str | None = None, integer_positions: bool = True
                         ) -> Callable[..., None]:
    """The properties of a q/k RoPE ``fn(q, k, positions)``: those of the pair, and the
    1-D properties of each side (ids ``q.*``, ``k.*``)."""
    return _collectable(_rope_pair_entries(fn, expect, head_dim, dict(
        dtype=dtype, framework=framework, integer_positions=integer_positions)))


def rope_nd_properties(fn: Callable[..., Any], *, head_dim: int, n_axes: int,
                       omega_max: float = 1.0, grid: tuple[int, ...] | None = None,
                       dtype: str = "float64", framework: str | None = None
                       ) -> Callable[..., None]:
    """The properties of an N-D RoPE ``fn(x, positions)`` with positions ``(rows, n_axes)``."""
    subject = rope_nd_module.rope_nd_subject(fn, head_dim=head_dim, n_axes=n_axes,
                                             omega_max=omega_max, grid=grid, dtype=dtype,
                                             framework=framework)
    return _collectable(property_tests("rope_nd", subject))


def orthogonal_map_properties(fn: Callable[..., Any], *, form: str = "apply",
                              determinant: Any = None, complement: Any = None,
                              singular: str = "both", dtype: str = "float64",
                              framework: str | None = None) -> Callable[..., None]:
    """The properties of an orthogonal map ``a -> b`` (see
    :func:`refimpl.testing.properties.maps.map_subject` for the claims)."""
    subject = maps_module.map_subject(fn, form=form, determinant=determinant,
                                      complement=complement, singular=singular, dtype=dtype,
                                      framework=framework)
    return _collectable(property_tests("maps", subject))


def householder_product_properties(fn: Callable[..., Any], *, dtype: str = "float64",
                                   framework: str | None = None) -> Callable[..., None]:
    """The properties of a Householder product ``fn(V, tau) -> Q``."""
    subject = product_module.product_subject(fn, dtype=dtype, framework=framework)
    return _collectable(property_tests("householder_product", subject))


def vmf_sampler_properties(fn: Callable[..., Any], *, n: int = 4000, false_alarm: float = 1e-6,
                           dtype: str = "float64", framework: str | None = None
                           ) -> Callable[..., None]:
    """The properties of a vMF sampler ``fn(mu, kappa, n, seed)``, over the fixed grid."""
    subject = vmf_module.sampler_subject(fn, n=n, false_alarm=false_alarm, dtype=dtype,
                                         framework=framework)
    return _collectable(property_tests("vmf_sampler", subject))


def vmf_log_normalizer_properties(fn: Callable[..., Any], *, dtype: str = "float64",
                                  framework: str | None = None) -> Callable[..., None]:
    """The properties of a vMF log-normalizer ``fn(d, kappa)``."""
    subject = vmf_module.normalizer_subject(fn, dtype=dtype, framework=framework)
    return _collectable(property_tests("vmf_log_normalizer", subject))


def _vjp_entries(fn: Callable[..., Any] | None, fn_vjp: Callable[..., Any],
                 arguments: st.SearchStrategy[Any] | None, reference: Any,
                 options: dict[str, Any]) -> list[Entry]:
    if arguments is None:
        if not isinstance(reference, str):
            raise ValueError("give arguments= (a strategy of argument tuples or Cases), or "
                             "name a reference of VJP_REFERENCES")
        arguments = rst.vjp_arguments(reference)
    if fn is None:
        if not isinstance(reference, str):
            raise ValueError("give the forward fn, or name a reference whose forward to use")
        fn = vjp_module.VJP_REFERENCES[reference][0]
    subject = vjp_module.vjp_subject(fn, fn_vjp, reference=reference, **options)
    cases = rst.built(arguments, lambda value: value if isinstance(value, Case) else Case(
        **{f"arg{i}": a for i, a in enumerate(value)}))
    return property_tests("vjp", subject, {"vjp_arguments": cases})


def vjp_properties(fn: Callable[..., Any] | None, fn_vjp: Callable[..., Any], *,
                   arguments: st.SearchStrategy[Any] | None = None, reference: Any = None,
                   argnums: Sequence[int] | None = None, form: str = "vjp",
                   dtype: str = "float64", framework: str | None = None
                   ) -> Callable[..., None]:
    """The properties of a backward ``fn_vjp(g, *args)`` of ``fn(*args)``.

    ``arguments`` draws the argument tuples (or Cases with fields ``arg0, ...``);
    ``reference`` is ``(f, f_vjp)`` or a name of
    :data:`~refimpl.testing.properties.vjp.VJP_REFERENCES`, which also supplies the
    arguments and, with ``fn=None``, the forward.
    """
    return _collectable(_vjp_entries(fn, fn_vjp, arguments, reference, dict(
        argnums=argnums, form=form, dtype=dtype, framework=framework)))


def _widening_entries(subject: widening_module.WideningSubject) -> list[Entry]:
    if subject.inputs is None:
        raise ValueError("widening needs inputs=, a Hypothesis strategy of model inputs")
    inputs = rst.built(subject.inputs, lambda x: x if isinstance(x, Case) else Case(x=x))
    return property_tests("widening", subject, {"widening_inputs": inputs})


def widening_properties(small: Callable[[Any], Any], grown: Callable[[Any], Any], *,
                        inputs: st.SearchStrategy[Any], copy_gradients: Any = None,
                        noise: float = 0.1, size: float = 256.0, dtype: str = "float64"
                        ) -> Callable[..., None]:
    """The properties of a growth operator: ``grown`` computes ``small`` on ``inputs``,
    and (with ``copy_gradients(noise, seed)``) copies separate under noise only."""
    return _collectable(_widening_entries(widening_module.WideningSubject(
        small, grown, inputs, copy_gradients, noise, size, dtype=dtype)))


def attention_properties(fn: Callable[..., Any], fn_vjp: Callable[..., Any] | None = None, *,
                         fully_masked: str | None = None, dtype: str = "float64",
                         framework: str | None = None) -> Callable[..., None]:
    """The properties of an attention kernel ``fn(q, k, v, mask)`` (and its backward)."""
    subject = attention_properties_module.attention_subject(
        fn, fn_vjp, fully_masked=fully_masked, dtype=dtype, framework=framework)
    return _collectable(property_tests("attention", subject))


# -------------------------------------------------------------------- command line

def _option(config: pytest.Config, name: str) -> Any:
    return config.getoption(f"--refimpl-{name}")


def _number(config: pytest.Config, name: str, kind: Callable[[str], Any]) -> Any:
    value = _option(config, name)
    try:
        return None if value is None else kind(value)
    except ValueError:
        raise pytest.UsageError(f"--refimpl-{name} must be a number, got {value!r}") from None


def _command_line_entries(kind: str, target: Any, config: pytest.Config) -> list[Entry]:
    """The entries of one ``--refimpl-KIND=target`` with the shared settings."""
    from refimpl.__main__ import load_function

    options = {"dtype": _option(config, "dtype") or "float64",
               "framework": _option(config, "framework")}
    head_dim, expect = _number(config, "head-dim", int), _option(config, "expect")
    if kind == "rope":
        return _rope_entries(target, expect, head_dim, options)
    if kind == "rope-pair":
        return _rope_pair_entries(target, expect, head_dim, options)
    if kind == "rope-nd":
        subject = rope_nd_module.rope_nd_subject(
            target, head_dim=head_dim or 0, n_axes=_number(config, "n-axes", int) or 2,
            omega_max=_number(config, "omega-max", float) or 1.0, **options)
        return property_tests("rope_nd", subject)
    if kind == "orthogonal-map":
        return property_tests("maps", maps_module.map_subject(
            target, form=_option(config, "map-form") or "apply",
            determinant=_option(config, "determinant"), complement=_option(config, "complement"),
            singular=_option(config, "singular") or "both", **options))
    if kind == "householder-product":
        return property_tests("householder_product",
                              product_module.product_subject(target, **options))
    if kind == "vmf-sampler":
        return property_tests("vmf_sampler", vmf_module.sampler_subject(target, **options))
    if kind == "vmf-log-normalizer":
        return property_tests("vmf_log_normalizer",
                              vmf_module.normalizer_subject(target, **options))
    if kind == "attention":
        backward = _option(config, "attention-vjp")
        kernel = attention_properties_module.attention_subject(
            target, load_function(backward) if backward else None,
            fully_masked=_option(config, "fully-masked"), **options)
        return property_tests("attention", kernel)
    if kind == "vjp":
        forward, reference = _option(config, "vjp-forward"), _option(config, "vjp-of")
        return _vjp_entries(load_function(forward) if forward else None, target, None,
                            reference, options)
    if isinstance(target, widening_module.WideningSubject):
        return _widening_entries(target)
    raise pytest.UsageError(f"--refimpl-widening must name a WideningSubject, got "
                            f"{type(target).__name__}")


def command_line_items(session: pytest.Session, config: pytest.Config,
                       chosen: dict[str, str]) -> list[pytest.Item]:
    """The test items of every ``--refimpl-KIND`` given: ``refimpl::KIND[property]``."""
    from refimpl.__main__ import load_function

    collector = _Suite.from_parent(session, name="refimpl", nodeid="refimpl")
    items: list[pytest.Item] = []
    for kind, spec in chosen.items():
        try:
            entries = _command_line_entries(kind, load_function(spec), config)
        except (ValueError, TypeError, ImportError, AttributeError) as error:
            raise pytest.UsageError(f"--refimpl-{kind}={spec}: {error}") from None
        for name, run in entries:
            items.append(_PropertyItem.from_parent(collector, name=f"{kind}[{name}]",
                                                   callobj=run))
    return items


class _PropertyItem(pytest.Function):
    """A command-line property test; reported by its node id, ``refimpl::KIND[property]``."""

    def reportinfo(self) -> tuple[Any, int | None, str]:
        path, line, _ = super().reportinfo()
        return path, line, self.nodeid


class _Suite(pytest.Collector):
    """The parent node of the command-line property tests (nodeids ``refimpl::...``)."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []

