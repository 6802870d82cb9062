"""Command line: ``python -m refimpl check | vectors | info``.

``check`` runs the self-verification table (every module's quick property checks) and
exits non-zero when any row fails; ``check --impl package.module:function --kind KIND``
instead runs a conformance check of :mod:`refimpl.testing` on a foreign function, prints
its report and exits non-zero when it fails. ``vectors --out DIR`` writes the golden
vectors. ``info`` prints versions and the available modules.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys
from typing import Any, Sequence

import numpy as np
import scipy

import refimpl

#: Conformance checks available to ``check --kind``.
KINDS = ("rope", "householder-product", "orthogonal-map", "vmf-sampler", "vmf-log-normalizer")

#: Precisions a foreign function may claim.
DTYPES = ("float64", "float32", "float16", "bfloat16")


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


def load_function(spec: str) -> Any:
    """The object named ``package.module:function`` (the function part may be dotted)."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"--impl must read package.module:function, got {spec!r}")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


def command_conformance(args: argparse.Namespace) -> int:
    """Run the conformance check of ``--kind`` on ``--impl``; print the report."""
    from refimpl import testing

    fn = load_function(args.impl)
    options = {"dtype": args.dtype, "framework": args.framework}
    if args.kind == "rope":
        expect = None
        if args.expect:
            expect = testing.preset(args.expect, **({"head_dim": args.head_dim}
                                                    if args.head_dim else {}))
        head_dim = args.head_dim or (expect.head_dim if expect else None)
        if head_dim is None:
            raise ValueError("--kind rope needs --head-dim (or an --expect preset)")
        report = testing.check_rope(fn, head_dim=head_dim, expect=expect,
                                    max_position=args.max_position, **options)
    elif args.expect:
        raise ValueError(f"--expect applies to --kind rope only, got --kind {args.kind}")
    elif args.kind == "householder-product":
        report = testing.check_householder_product(fn, **options)
    elif args.kind == "orthogonal-map":
        report = testing.check_orthogonal_map(fn, form=args.form, **options)
    elif args.kind == "vmf-sampler":
        report = testing.check_vmf_sampler(fn)
    else:
        report = testing.check_vmf_log_normalizer(fn, **options)
    print(report)
    return 0 if report.passed else 1


def command_vectors(args: argparse.Namespace) -> int:
    """Write the golden vectors to ``--out``."""
    from refimpl.testing import write_vectors

    manifest = write_vectors(args.out)
    print(f"wrote {len(manifest['cases'])} golden cases and manifest.json to {args.out}")
    return 0


def command_check(args: argparse.Namespace) -> int:
    """Run the self-check table (or, with ``--impl``, a conformance check); exit 1 on failure."""
    if args.impl is not None or args.kind is not None:
        if args.impl is None or args.kind is None:
            print("--impl and --kind go together", file=sys.stderr)
            return 2
        try:
            return command_conformance(args)
        except (ValueError, TypeError, ImportError, AttributeError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    from refimpl.selfcheck import CHECKS, run_checks

    checks = [c for c in CHECKS if args.only is None or args.only.lower() in c.name.lower()]
    if not checks:
        print(f"no check matches {args.only!r}", file=sys.stderr)
        return 2
    passed = run_checks(checks, seed=args.seed)
    print(f"\n{'all checks passed' if passed else 'SOME CHECKS FAILED'} "
          f"({len(checks)} checks, seed {args.seed})")
    return 0 if passed else 1


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
                       help="a foreign function to check instead (e.g. mypkg.rope:apply_rope)")
    check.add_argument("--kind", choices=KINDS, help="which conformance check to run on --impl")
    check.add_argument("--expect", metavar="PRESET[:key=value,...]",
                       help="expected RoPE convention, e.g. hf-yarn:factor=4,"
                            "original_max_position_embeddings=32768 (see "
                            "refimpl.testing.presets.PRESETS)")
    check.add_argument("--head-dim", type=int, help="feature dimension of the RoPE function")
    check.add_argument("--dtype", default="float64", choices=DTYPES,
                       help="precision the foreign function claims (sets tolerances)")
    check.add_argument("--framework", choices=("numpy", "torch", "jax"),
                       help="convert inputs to this framework's arrays before calling")
    check.add_argument("--form", default="apply", choices=("apply", "matrix"),
                       help="orthogonal-map: fn(x, a, b) -> T x, or fn(a, b) -> T")
    check.add_argument("--max-position", type=int, default=2**17,
                       help="largest position of the RoPE error curve (default 131072)")
    check.set_defaults(handler=command_check)
    vectors = commands.add_parser(
        "vectors", help="write golden vectors (.npz per case + manifest.json)",
        description="Write refimpl's outputs on fixed inputs: one .npz per case and a "
                    "manifest.json with parameters, tolerances and sha256 hashes. The bytes "
                    "are identical on every run.")
    vectors.add_argument("--out", required=True, metavar="DIR", help="output directory")
    vectors.set_defaults(handler=command_vectors)
    info = commands.add_parser("info", help="print versions and the available modules")
    info.set_defaults(handler=command_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
