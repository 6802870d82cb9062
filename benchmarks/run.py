"""Run the benchmarks: ``python benchmarks/run.py [--json FILE] [name ...]``.

Discovers every ``bench_<name>.py`` beside this file, runs its ``main()`` and prints its
ratio tables, each row with its target and a verdict (``met`` / ``MISSED``, or
``context`` for a row that only gives scale); the exit status is 1 if a row has no
numeric target. Run it from the worktree as ``PYTHONPATH=$PWD python benchmarks/run.py``
(and under the interop venv for the torch rows). With names,
runs only those (``python benchmarks/run.py floors rope``). ``--json FILE`` also writes
every row (table, name, ratio, target, verdict) with the numpy/scipy/BLAS versions (and
torch's, when it is importable) for tracking across runs and machines.
"""

from __future__ import annotations

import importlib
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent


def discover() -> dict[str, pathlib.Path]:
    """Map benchmark name -> script path, sorted by name."""
    return {path.stem.removeprefix("bench_"): path for path in sorted(HERE.glob("bench_*.py"))}


def environment() -> dict:
    """Versions, BLAS and its thread count of this run (torch only if it is importable)."""
    import platform

    import numpy
    import scipy

    blas = numpy.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    info = dict(python=platform.python_version(), machine=platform.machine(),
                numpy=numpy.__version__, scipy=scipy.__version__,
                blas=f"{blas.get('name', '?')} {blas.get('version', '?')}")
    try:
        import torch
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    from _timing import blas_threads
    info["blas_threads"] = blas_threads()
    return info


def main(argv: list[str]) -> int:
    """Run the named (or all) benchmarks; exit status 2 on an unknown name."""
    json_path = None
    if "--json" in argv:
        at = argv.index("--json")
        if at + 1 >= len(argv):
            print("--json needs a file name", file=sys.stderr)
            return 2
        json_path = argv[at + 1]
        argv = argv[:at] + argv[at + 2:]
    found = discover()
    unknown = [name for name in argv if name not in found]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {', '.join(found)}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(HERE))
    import _timing

    for name in argv or list(found):
        print(f"=== {name}")
        importlib.import_module(f"bench_{name}").main()
    if json_path is not None:
        pathlib.Path(json_path).write_text(json.dumps(
            dict(environment=environment(), rows=_timing.ROWS), indent=1) + "\n")
        print(f"\nwrote {len(_timing.ROWS)} rows to {json_path}")
    verdicts = [row["verdict"] for row in _timing.ROWS]
    print(f"\n{verdicts.count('met')} met, {verdicts.count('MISSED')} MISSED, "
          f"{verdicts.count('context')} context rows")
    untargeted = [row["name"] for row in _timing.ROWS if row["verdict"] == _timing.NO_TARGET]
    if untargeted:
        print(f"rows without a numeric target (give one, or mark them '(context: ...)'): "
              f"{untargeted}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
