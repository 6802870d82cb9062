"""Command line: ``python -m refimpl check | info``.

``check`` runs the self-verification table (every module's quick property checks) and
exits non-zero when any row fails. ``info`` prints versions and the available modules.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys
from typing import Sequence

import numpy as np
import scipy

import refimpl


def _modules() -> list[tuple[str, str]]:
    """``(name, first docstring line)`` of every public refimpl module."""
    rows = []
    for info in pkgutil.walk_packages(refimpl.__path__, prefix="refimpl."):
        name = info.name
        if any(part.startswith("_") for part in name.split(".")) or ".selfcheck" in name:
            continue
        module = importlib.import_module(name)
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


def command_check(args: argparse.Namespace) -> int:
    """Run the self-check table; exit status 1 if any check fails."""
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
    check.set_defaults(handler=command_check)
    info = commands.add_parser("info", help="print versions and the available modules")
    info.set_defaults(handler=command_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
