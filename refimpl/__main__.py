"""Command line: ``python -m refimpl check | vectors | audit | info``.

``check`` runs the self-verification table (every module's quick property checks);
``check --impl package.module:function --kind KIND`` instead runs a conformance check of
:mod:`refimpl.testing` on a foreign function and prints its report. The foreign function
receives NumPy float64 arrays unless ``--framework torch`` or ``--framework jax`` says
otherwise. ``vectors --out DIR`` writes the golden vectors. ``audit transformers`` checks
the rotary embedding of every model family of the installed transformers (the
``interop`` extra). ``info`` prints versions and the available modules.
``check --kind rope --plot FILE`` (or ``rope-pair``) also saves the report's
error-by-position curve as a PNG (:meth:`refimpl.testing.report.Report.plot`, which
needs matplotlib).

Exit status (:data:`EXIT_PASS`, :data:`EXIT_FAIL`, :data:`EXIT_ERROR`): 0 when every check
passed; 1 when a check ran and failed; 2 for a usage error (bad arguments, a function
that cannot be imported or called the way the kit calls it) or when the function under
test raised (the message shows the call the kit made).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy

import refimpl
from refimpl.testing._tolerance import DTYPES
from refimpl.testing.adapters import TENSOR_LAYOUTS, ForeignError

#: Conformance checks available to ``check --kind``.
KINDS = ("rope", "rope-pair", "vjp", "householder-product", "orthogonal-map", "vmf-sampler",
         "vmf-log-normalizer")

#: Exit status: every check passed / a check failed / usage error or foreign exception.
EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def _modules() -> list[tuple[str, str]]:
    """``(name, first docstring line)`` of every public refimpl module."""
    rows = []
    for info in pkgutil.walk_packages(refimpl.__path__, prefix="refimpl."):
        name = info.name
        if any(part.startswith("_") for part in name.split(".")) or ".selfcheck" in name:
            continue
        try:
            module = importlib.import_module(name)
        except ImportError as error:  # e.g. refimpl.testing.strategies without Hypothesis
            rows.append((name, f"(unavailable: {error})"))
            continue
        summary = (module.__doc__ or "").strip().splitlines()
        rows.append((name, summary[0] if summary else ""))
    return rows


def command_info(args: argparse.Namespace) -> int:
    """Print versions of refimpl, Python, NumPy and SciPy, and the modules."""
    print(f"refimpl {refimpl.__version__}")
    print(f"Python  {platform.python_version()} ({platform.machine()})")
    print(f"NumPy   {np.__version__}")
    print(f"SciPy   {scipy.__version__}")
    print("\nmodules:")
    for name, summary in _modules():
        print(f"  {name:<32} {summary}")
    return 0


def load_function(spec: str, option: str = "--impl") -> Any:
    """The object named ``package.module:function`` (the function part may be dotted)."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"{option} must read package.module:function, got {spec!r}")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


def parse_shape(text: str) -> tuple[int, ...]:
    """``"7x4"`` -> ``(7, 4)``; ``"-"`` or ``"scalar"`` -> ``()``."""
    if text in ("-", "scalar"):
        return ()
    try:
        shape = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--args takes shapes like 7x4 or 16 (or - for a scalar), got "
                         f"{text!r}") from None
    if any(n < 0 for n in shape):
        raise ValueError(f"--args shapes must be non-negative, got {text!r}")
    return shape


def _rope_report(args: argparse.Namespace, fn: Any) -> Any:
    """``--kind rope`` and ``--kind rope-pair``."""
    from refimpl import testing

    expect = None
    if args.expect:
        expect = testing.preset(args.expect, **({"head_dim": args.head_dim}
                                                if args.head_dim else {}))
    head_dim = args.head_dim or (expect.head_dim if expect else None)
    if head_dim is None:
        raise ValueError(f"--kind {args.kind} needs --head-dim (or an --expect preset)")
    check = testing.check_rope if args.kind == "rope" else testing.check_rope_pair
    return check(fn, head_dim=head_dim, expect=expect, n_axes=args.n_axes, dtype=args.dtype,
                 angle_dtype=args.angle_dtype, framework=args.framework,
                 tensor_layout=args.tensor_layout, max_position=args.max_position)


def _vjp_report(args: argparse.Namespace, fn: Any) -> Any:
    """``--kind vjp``: ``--vjp`` the backward, ``--args`` the shapes, ``--reference``."""
    from refimpl import testing

    if args.vjp is None or not args.args:
        raise ValueError("--kind vjp needs --vjp MODULE:FUNCTION (the backward) and --args "
                         "SHAPE [SHAPE ...] (one shape per argument of --impl, e.g. 7x4 4)")
    backward = load_function(args.vjp, "--vjp")
    reference = None
    if args.reference:
        forward = load_function(args.reference, "--reference")
        reference = (forward, load_function(args.reference + "_vjp", "--reference"))
    rng = np.random.default_rng(args.seed)
    values = [rng.standard_normal(parse_shape(shape)) for shape in args.args]
    return testing.check_vjp(fn, backward, values, reference=reference, form=args.form_vjp,
                             dtype=args.dtype, framework=args.framework, rng=args.seed)


def _reject(namespace: argparse.Namespace, kinds: tuple[str, ...], **options: Any) -> None:
    """Usage error for an option given to a kind it does not apply to."""
    for option, (value, default) in options.items():
        if value != default and namespace.kind not in kinds:
            raise ValueError(f"--{option} applies to --kind {' / '.join(kinds)} only, got "
                             f"--kind {namespace.kind}")


def command_conformance(args: argparse.Namespace) -> int:
    """Run the conformance check of ``--kind`` on ``--impl``; print the report."""
    from refimpl import testing

    rope_kinds = ("rope", "rope-pair")
    _reject(args, rope_kinds, expect=(args.expect, None), **{
        "angle-dtype": (args.angle_dtype, None), "tensor-layout": (args.tensor_layout, "rows"),
        "n-axes": (args.n_axes, None), "head-dim": (args.head_dim, None)})
    _reject(args, ("vjp",), vjp=(args.vjp, None), args=(args.args, None),
            reference=(args.reference, None))
    if args.plot is not None and args.kind not in rope_kinds:
        raise ValueError(f"--plot saves the error curve of a check that measures one, --kind "
                         f"rope or rope-pair (by position); --kind {args.kind} has no curve")
    fn = load_function(args.impl)
    options = {"dtype": args.dtype, "framework": args.framework}
    if args.kind in rope_kinds:
        report = _rope_report(args, fn)
    elif args.kind == "vjp":
        report = _vjp_report(args, fn)
    elif args.kind == "householder-product":
        report = testing.check_householder_product(fn, **options)
    elif args.kind == "orthogonal-map":
        report = testing.check_orthogonal_map(fn, form=args.form, **options)
    elif args.kind == "vmf-sampler":
        report = testing.check_vmf_sampler(fn, **options)
    else:
        report = testing.check_vmf_log_normalizer(fn, **options)
    print(report)
    if args.plot is not None:  # ValueError (no curve) and ImportError exit 2 in command_check
        report.plot(args.plot)
        print(f"wrote the error curve to {args.plot}")
    return EXIT_PASS if report.passed else EXIT_FAIL


def command_vectors(args: argparse.Namespace) -> int:
    """Write the golden vectors to ``--out``."""
    from refimpl.testing import write_vectors

    manifest = write_vectors(args.out)
    print(f"wrote {len(manifest['cases'])} golden cases and manifest.json to {args.out}")
    return 0


def command_audit(args: argparse.Namespace) -> int:
    """Audit the rotary embeddings of an installed library; print (and write) the table."""
    try:
        from refimpl.testing.audit import audit_transformers
        table = audit_transformers(only=args.only)
    except ImportError as error:
        print(f"error: {error}; the audit needs the interop extra: "
              f"pip install 'refimpl[interop]'", file=sys.stderr)
        return EXIT_ERROR
    print(table.text())
    if args.write:
        with open(args.write, "w", encoding="utf-8") as out:
            out.write(table.markdown())
        print(f"\nwrote {args.write}")
    return EXIT_PASS if table.passed else EXIT_FAIL


def command_check(args: argparse.Namespace) -> int:
    """Run the self-check table (or, with ``--impl``, a conformance check); exit 1 on failure."""
    if args.impl is not None or args.kind is not None:
        if args.impl is None or args.kind is None:
            print("--impl and --kind go together", file=sys.stderr)
            return EXIT_ERROR
        try:
            return command_conformance(args)
        except ForeignError as error:
            print(f"error: the function under test raised.\n{error}", file=sys.stderr)
            return EXIT_ERROR
        except (ValueError, TypeError, ImportError, AttributeError) as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_ERROR
    if args.plot is not None:
        print("--plot saves the curve of a conformance check: give it with --impl and --kind",
              file=sys.stderr)
        return EXIT_ERROR
    from refimpl.selfcheck import CHECKS, run_checks

    checks = [c for c in CHECKS if args.only is None or args.only.lower() in c.name.lower()]
    if not checks:
        print(f"no check matches {args.only!r}", file=sys.stderr)
        return EXIT_ERROR
    passed = run_checks(checks, seed=args.seed)
    print(f"\n{'all checks passed' if passed else 'SOME CHECKS FAILED'} "
          f"({len(checks)} checks, seed {args.seed})")
    return EXIT_PASS if passed else EXIT_FAIL


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``python -m refimpl``."""
    parser = argparse.ArgumentParser(
        prog="python -m refimpl",
        description="refimpl: reference implementations to check other code against.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check", help="run the self-verification table (exit 1 on any failure)",
        description="Run every module's quick property checks and print one row per check: "
                    "name, cases tried, worst error, tolerance, pass/fail.")
    check.add_argument("--seed", type=int, default=0, help="seed for the checks (default 0)")
    check.add_argument("--only", metavar="TEXT", help="run only checks whose name contains TEXT")
    check.add_argument("--impl", metavar="MODULE:FUNCTION",
                       help="a foreign function to check instead (e.g. mypkg.rope:apply_rope); "
                            "it receives NumPy float64 arrays unless --framework says otherwise")
    check.add_argument("--kind", choices=KINDS,
                       help="which conformance check to run on --impl: rope fn(x, positions), "
                            "rope-pair fn(q, k, positions) -> (q_rot, k_rot), vjp (with --vjp "
                            "and --args), householder-product fn(V, tau), orthogonal-map, "
                            "vmf-sampler fn(mu, kappa, n, seed), vmf-log-normalizer fn(d, kappa)")
    check.add_argument("--expect", metavar="PRESET[:key=value,...]",
                       help="expected RoPE convention, e.g. hf-yarn:factor=4,"
                            "original_max_position_embeddings=32768 (see "
                            "refimpl.testing.presets.PRESETS)")
    check.add_argument("--head-dim", type=int, help="feature dimension of the RoPE function")
    check.add_argument("--n-axes", type=int, help="position axes of the RoPE function "
                                                  "(default: the preset's, else 1)")
    check.add_argument("--dtype", default="float64", choices=DTYPES,
                       help="precision the foreign function claims for its inputs and output; "
                            "inputs are cast to it and tolerances follow it")
    check.add_argument("--angle-dtype", choices=DTYPES,
                       help="precision claimed for the RoPE angles (default: --dtype, but at "
                            "least float32)")
    check.add_argument("--framework", choices=("numpy", "torch", "jax"),
                       help="convert inputs to this framework's arrays before calling "
                            "(default: NumPy arrays)")
    check.add_argument("--tensor-layout", default="rows", choices=TENSOR_LAYOUTS,
                       help="RoPE input shape: rows (rows, D) with positions (rows,), or BHTD / "
                            "BTHD 4-D tensors with positions (batch, tokens)")
    check.add_argument("--form", default="apply", choices=("apply", "matrix"),
                       help="orthogonal-map: fn(x, a, b) -> T x, or fn(a, b) -> T")
    check.add_argument("--max-position", type=int, default=2**17,
                       help="largest position passed to a RoPE function (default 131072); "
                            "set it below a position table's length")
    check.add_argument("--vjp", metavar="MODULE:FUNCTION",
                       help="vjp: the foreign backward fn_vjp(cotangent, *args)")
    check.add_argument("--args", nargs="+", metavar="SHAPE",
                       help="vjp: the shape of each argument of --impl, e.g. 7x4 4")
    check.add_argument("--reference", metavar="MODULE:FUNCTION",
                       help="vjp: refimpl's forward (its VJP is FUNCTION_vjp), e.g. "
                            "refimpl.householder:householder_product; default: central "
                            "differences of --impl")
    check.add_argument("--vjp-form", dest="form_vjp", default="vjp", choices=("vjp", "grad"),
                       help="vjp: fn_vjp(cotangent, *args), or fn_vjp(*args) for the gradient "
                            "of sum(fn(*args))")
    check.add_argument("--plot", metavar="FILE",
                       help="rope, rope-pair: also save the error-by-position curve as a PNG "
                            "(Report.plot; needs matplotlib)")
    check.set_defaults(handler=command_check)
    vectors = commands.add_parser(
        "vectors", help="write golden vectors (.npz per case + manifest.json)",
        description="Write refimpl's outputs on fixed inputs: one .npz per case and a "
                    "manifest.json with parameters, tolerances and sha256 hashes. The bytes "
                    "are identical on every run.")
    vectors.add_argument("--out", required=True, metavar="DIR", help="output directory")
    vectors.set_defaults(handler=command_vectors)
    audit = commands.add_parser(
        "audit", help="check the rotary embedding of every model family of a library",
        description="For every model family of the installed transformers that defines a "
                    "rotary embedding: build a small default config, drive its rotary "
                    "embedding and apply function through the kit's adapters, run "
                    "check_rope_pair against the convention its config describes, and print "
                    "one table row per family (needs the interop extra). Exit 1 when a "
                    "family departs from its config, 2 when the library is missing.")
    audit.add_argument("library", choices=("transformers",), help="the library to audit")
    audit.add_argument("--write", metavar="PATH",
                       help="also write the table as Markdown to PATH "
                            "(docs/transformers_rope_audit.md)")
    audit.add_argument("--only", metavar="TEXT", help="audit only families whose name "
                                                      "contains TEXT")
    audit.set_defaults(handler=command_audit)
    info = commands.add_parser("info", help="print versions and the available modules")
    info.set_defaults(handler=command_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
