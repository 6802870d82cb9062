"""Run the benchmarks: ``python benchmarks/run.py [name ...]``.

Discovers every ``bench_<name>.py`` beside this file, runs its ``main()`` and prints its
ratio table. With names, runs only those (``python benchmarks/run.py floors rope``).
"""

from __future__ import annotations

import importlib
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent


def discover() -> dict[str, pathlib.Path]:
    """Map benchmark name -> script path, sorted by name."""
    return {path.stem.removeprefix("bench_"): path for path in sorted(HERE.glob("bench_*.py"))}


def main(argv: list[str]) -> int:
    """Run the named (or all) benchmarks; exit status 2 on an unknown name."""
    found = discover()
    unknown = [name for name in argv if name not in found]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {', '.join(found)}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(HERE))
    for name in argv or list(found):
        print(f"=== {name}")
        importlib.import_module(f"bench_{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
