r"""Mutation testing for refimpl: which small changes to the code do the tests miss?

Run from anywhere (not part of CI; pytest does not collect it as a test)::

    python tests/mutate.py refimpl/rope/apply.py --tests tests/rope/test_apply.py \
        [--tests ...] [--jobs 2] [--timeout-factor 5] [--json FILE] [--only 120-180] [--list]

A module argument may be a directory (every ``.py`` under it). Pass the module itself as
one more ``--tests`` to let its doctests kill mutants too.

Operators, one change per mutant, applied to code only: never to docstrings, string
constants, f-strings, type annotations, decorators, ``assert`` statements, the message
of a ``raise``, or an ``if __name__ == "__main__"`` test.

=========  ==================================================================
binop      ``+ <-> -``, ``* <-> /``, ``// -> /``, ``% -> /``, ``** -> *``,
           ``& <-> |`` (NumPy masks)
augassign  the same swaps in ``+=``, ``-=``, ...
compare    ``< <-> <=``, ``> <-> >=``, ``== <-> !=``, ``is <-> is not``, ``in <-> not in``
boolop     ``and <-> or``
not        ``not x -> x``, ``~x -> x``
neg        ``-x -> x`` (so ``a[:-1] -> a[:1]``; with ``number``, ``a[:-2]``, ``a[:-0]``)
number     int: ``0 -> 1``, ``1 -> 0``, ``1 -> 2``, ``n -> n + 1``; float: ``0.0 -> 1.0``,
           tolerance-like ``0 < x < 1e-3 -> sqrt(x)`` (``1e-12 -> 1e-06``), else ``x -> x/2``
bool       ``True <-> False`` (``None`` is never touched)
raise      ``raise ... -> pass``: is the input validation tested?
=========  ==================================================================

A mutant's id survives unrelated edits: ``qualname:operator:before -> after:snippet#k``,
with the enclosing function's qualified name, the normalised source (``ast.unparse``,
40 characters) of the changed expression and ``k`` counting identical keys before it.

>>> m = generate_mutants("def f(x):\n    '''x + 1'''\n    return x + 1.0\n")
>>> [mutant.id for mutant in m]
['f:binop:+ -> -:x + 1.0#0', 'f:number:1.0 -> 0.5:x + 1.0#0']
>>> print(m[0].diff)
@@ -3 +3 @@
-    return x + 1.0
+    return x - 1.0

Speed: the parent imports the third-party libraries the tests and refimpl use (never
refimpl), copies the repository once per job into a temporary directory, runs the
unmutated baseline in every copy (refusing to go on if it fails), then per mutant writes
the mutated module into a free copy, forks a child that runs ``pytest.main(tests + -x -q
-p no:cacheprovider)`` under ``HYPOTHESIS_PROFILE=ci`` and restores the module. The
children use single-threaded BLAS, no Hypothesis example database and no shrinking (a
kill needs one failing example, not the smallest), and compile the mutated module from
source every time (the baseline caches the bytecode of everything else). A child slower
than ``timeout-factor`` times the baseline (at least ``MIN_TIMEOUT``) is killed and
counted as a timeout, which kills the mutant.

Score = (killed + timed out) / (mutants - equivalent). ``tests/mutation_equivalent.toml``
lists, per module, the ids judged equivalent, each with a one-line reason; listed ids
that no longer exist, or that the tests kill, are reported.
"""

from __future__ import annotations

import argparse
import ast
import bisect
import importlib
import importlib.util
import io
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import tokenize
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

REPO = Path(__file__).resolve().parents[1]
PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
MIN_TIMEOUT = 10.0  # seconds: a 1 s baseline on a loaded machine is too noisy to scale
Edit = tuple[int, int, str]  # replace source[start:end] by the text
_SYMBOL: dict[type[ast.AST], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
    ast.Mod: "%", ast.Pow: "**", ast.BitAnd: "&", ast.BitOr: "|", ast.Lt: "<",
    ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
    ast.And: "and", ast.Or: "or"}
_SWAP: dict[type[ast.AST], Any] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div, ast.Mod: ast.Div, ast.Pow: ast.Mult, ast.BitAnd: ast.BitOr,
    ast.BitOr: ast.BitAnd, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.And: ast.Or, ast.Or: ast.And}


@dataclass(frozen=True)
class Mutant:
    """One mutant of a source text; ``line`` and ``column`` (1-based, 0-based) locate it."""

    id: str
    operator: str
    line: int
    column: int
    before: str
    after: str
    diff: str
    edits: tuple[Edit, ...] = field(repr=False)


def _apply(source: str, edits: Iterable[Edit]) -> str:
    for start, end, text in sorted(edits, reverse=True):
        source = source[:start] + text + source[end:]
    return source


@dataclass
class _Candidate:
    operator: str
    before: str
    after: str
    key: str  # the id without "#k"
    edits: list[Edit]
    node: ast.AST
    parent: ast.AST
    replacement: ast.AST


def _short(node: ast.AST) -> str:
    return " ".join(ast.unparse(node).split())[:40]


def _number_mutations(value: float) -> list[float]:
    if isinstance(value, int):
        return [1] if value == 0 else [0, 2] if value == 1 else [value + 1]
    if value == 0 or not math.isfinite(value):
        return [1.0] if value == 0 else []
    return [float(f"{math.sqrt(value):.3g}")] if value < 1e-3 else [value / 2]


class _Source:
    """Character offsets of AST positions (columns in UTF-8 bytes) and of code tokens."""

    def __init__(self, text: str) -> None:
        self.text, self.lines = text, text.split("\n")
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)
        self.tokens = [(self.starts[t.start[0] - 1] + t.start[1],
                        self.starts[t.end[0] - 1] + t.end[1])
                       for t in tokenize.generate_tokens(io.StringIO(text).readline)
                       if t.type in (tokenize.OP, tokenize.NAME) and t.string not in ("(", ")")]
        self.token_starts = [start for start, _ in self.tokens]

    def offset(self, line: int, column: int) -> int:
        return self.starts[line - 1] + len(self.lines[line - 1].encode()[:column].decode())

    def start(self, node: Any) -> int:
        return self.offset(node.lineno, node.col_offset)

    def end(self, node: Any) -> int:
        return self.offset(node.end_lineno, node.end_col_offset)

    def operator(self, after: ast.AST, before: ast.AST, text: str) -> Edit:
        """Replace the operator token(s) between two nodes (parentheses skipped)."""
        begin, stop = self.end(after), self.start(before)
        i = bisect.bisect_left(self.token_starts, begin)
        j = bisect.bisect_right(self.token_starts, stop - 1)
        return self.tokens[i][0], self.tokens[j - 1][1], text


class _Finder(ast.NodeVisitor):
    """Collects the candidate mutations of a module, skipping what is not code."""

    def __init__(self, source: _Source) -> None:
        self.src = source
        self.scope: list[str] = []
        self.stack: list[ast.AST] = []
        self.found: list[_Candidate] = []
        self.labels: dict[int, str] = {}  # id(argument default) -> "name="

    def visit(self, node: ast.AST) -> None:
        self.stack.append(node)
        super().visit(node)
        self.stack.pop()

    def add(self, operator: str, before: str, after: str, edits: list[Edit],
            replacement: ast.AST, snippet: str) -> None:
        qualname = ".".join(self.scope) or "<module>"
        key = f"{qualname}:{operator}:{before} -> {after}:{snippet}"
        self.found.append(_Candidate(operator, before, after, key, edits, self.stack[-1],
                                     self.stack[-2], replacement))

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        named = [*zip(positional[len(positional) - len(args.defaults):], args.defaults,
                      strict=True), *zip(args.kwonlyargs, args.kw_defaults, strict=True)]
        self.scope.append(node.name)  # decorators and annotations are skipped
        self.stack.append(args)
        for arg, default in named:
            if default is not None:
                self.labels[id(default)] = arg.arg + "="
                self.visit(default)
        self.stack.pop()
        self.visit_ClassDef(node, entered=True)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: Any, entered: bool = False) -> None:
        if not entered:
            self.scope.append(node.name)  # decorators and bases are skipped
        for statement in node.body:
            self.visit(statement)
        self.scope.pop()

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        pass

    def visit_Assert(self, node: ast.Assert) -> None:
        pass

    def visit_If(self, node: ast.If) -> None:
        if "__name__" not in ast.unparse(node.test):
            self.visit(node.test)
        for statement in (*node.body, *node.orelse):
            self.visit(statement)

    def visit_Raise(self, node: ast.Raise) -> None:
        snippet = _short(node.exc) if node.exc else ""
        edit = (self.src.start(node), self.src.end(node), "pass")
        self.add("raise", "raise", "pass", [edit], ast.Pass(), snippet)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        new = _SWAP.get(type(node.op))
        is_format = isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)
        if new is not None and not is_format:
            edit = self.src.operator(node.left, node.right, _SYMBOL[new])
            self.add("binop", _SYMBOL[type(node.op)], _SYMBOL[new], [edit],
                     ast.BinOp(node.left, new(), node.right), _short(node))
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        new = _SWAP.get(type(node.op))
        if new is not None:
            edit = self.src.operator(node.target, node.value, _SYMBOL[new] + "=")
            self.add("augassign", _SYMBOL[type(node.op)] + "=", _SYMBOL[new] + "=", [edit],
                     ast.AugAssign(node.target, new(), node.value), _short(node))
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        for i, op in enumerate(node.ops):
            new, ops = _SWAP[type(op)], list(node.ops)
            ops[i] = new()
            left = node.comparators[i - 1] if i else node.left
            edit = self.src.operator(left, node.comparators[i], _SYMBOL[new])
            self.add("compare", _SYMBOL[type(op)], _SYMBOL[new], [edit],
                     ast.Compare(node.left, ops, node.comparators), _short(node))
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        new = _SWAP[type(node.op)]
        edits = [self.src.operator(a, b, _SYMBOL[new])
                 for a, b in zip(node.values, node.values[1:], strict=False)]
        self.add("boolop", _SYMBOL[type(node.op)], _SYMBOL[new], edits,
                 ast.BoolOp(new(), node.values), _short(node))
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        symbol = {ast.Not: "not ", ast.Invert: "~", ast.USub: "-"}.get(type(node.op))
        if symbol is not None:
            start, end = self.src.tokens[bisect.bisect_left(self.src.token_starts,
                                                            self.src.start(node))]
            while self.src.text[end] in " \t":
                end += 1
            self.add("neg" if symbol == "-" else "not", symbol + "x", "x", [(start, end, "")],
                     node.operand, _short(node))
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        news: list[Any]
        if isinstance(value, bool):
            news, operator = [not value], "bool"
        elif isinstance(value, (int, float)):
            news, operator = _number_mutations(value), "number"
        else:
            return
        edit = (self.src.start(node), self.src.end(node))
        for new in news:
            self.add(operator, repr(value), repr(new), [(*edit, repr(new))],
                     ast.Constant(new), self.context(node))

    def context(self, node: ast.AST) -> str:
        """The nearest enclosing expression past unary minus, or ``name=value``."""
        for ancestor in reversed(self.stack):
            if id(ancestor) in self.labels:
                return self.labels[id(ancestor)] + _short(ancestor)
            if isinstance(ancestor, ast.keyword):
                return _short(ancestor)
            if ancestor is not node and isinstance(ancestor, ast.expr) and not isinstance(
                    ancestor, ast.UnaryOp):
                return _short(ancestor)
        return _short(node)


def _dump_with(top: ast.AST, parent: ast.AST, old: ast.AST, new: ast.AST) -> str:
    """``ast.dump(top)`` with ``new`` in place of ``old`` (a child of ``parent``)."""
    if top is old:
        return ast.dump(new)
    for name, value in ast.iter_fields(parent):
        if value is old or (isinstance(value, list) and old in value):
            changed: Any = new
            if isinstance(value, list):
                changed = [new if item is old else item for item in value]
            setattr(parent, name, changed)
            try:
                return ast.dump(top)
            finally:
                setattr(parent, name, value)
    raise LookupError("node not found in its parent")


def _diff(source: str, mutated: str, edits: Iterable[Edit]) -> str:
    """The unified diff of the changed line(s), without file headers."""
    spans = list(edits)
    first = source.count("\n", 0, min(start for start, _, _ in spans))
    last = source.count("\n", 0, max(end for _, end, _ in spans))
    old = source.split("\n")[first:last + 1]
    new = mutated.split("\n")[first:last + 1 + mutated.count("\n") - source.count("\n")]
    size = [f",{len(lines)}" if len(lines) != 1 else "" for lines in (old, new)]
    head = f"@@ -{first + 1}{size[0]} +{first + 1}{size[1]} @@"
    return "\n".join([head, *("-" + line for line in old), *("+" + line for line in new)])


def _parses_to(source: str, edits: list[Edit], top: tuple[int, int], dump: str) -> bool:
    """Does the top-level statement ``source[top[0]:top[1]]``, edited, parse to ``dump``?"""
    begin, end = top
    text = _apply(source[begin:end], [(a - begin, b - begin, t) for a, b, t in edits])
    try:
        body = ast.parse(text).body
    except SyntaxError:
        return False
    return len(body) == 1 and ast.dump(body[0]) == dump


def generate_mutants(source: str) -> list[Mutant]:
    """Every mutant of ``source`` in source order, each checked to re-parse to its AST."""
    tree, src = ast.parse(source), _Source(source)
    finder = _Finder(src)
    finder.visit(tree)
    tops = [(src.starts[min(n.lineno for n in [s, *getattr(s, "decorator_list", [])]) - 1],
             src.end(s), i) for i, s in enumerate(tree.body)]
    seen: Counter[str] = Counter()
    mutants = []
    for c in sorted(finder.found, key=lambda c: c.edits[0][0]):
        ident = f"{c.key}#{seen[c.key]}"
        seen[c.key] += 1
        begin, end, index = tops[bisect.bisect_right(tops, (c.edits[0][0], math.inf)) - 1]
        expected = _dump_with(tree.body[index], c.parent, c.node, c.replacement)
        span, text = (src.start(c.node), src.end(c.node)), ast.unparse(c.replacement)
        for edits in [c.edits, [(*span, text)], [(*span, f"({text})")]]:
            if _parses_to(source, edits, (begin, end), expected):
                break  # else the new operator binds differently (& vs |, ** vs *)
        else:
            raise AssertionError(f"mutate.py bug: mutant {ident} is not the intended AST")
        start, line = edits[0][0], source.count("\n", 0, edits[0][0])
        mutants.append(Mutant(ident, c.operator, line + 1, start - src.starts[line], c.before,
                              c.after, _diff(source, _apply(source, edits), edits), tuple(edits)))
    return mutants


# --- running: a fork server over one private copy of the repository per job -------------

@dataclass
class Result:
    module: str
    mutant: Mutant
    status: str = "pending"  # killed | timeout | survived
    seconds: float = 0.0
    exit_code: int | None = None
    killed_by: str = ""  # the first FAILED/ERROR line of pytest's summary
    equivalent: str = ""  # the reason, when the equivalents file lists it


class _FastFailures:
    """pytest plugin: the loaded (ci) profile without example database and shrinking."""

    def pytest_sessionstart(self, session: Any) -> None:
        from hypothesis import Phase, settings

        phases = [p for p in Phase if p not in (Phase.shrink, Phase.explain)]
        settings.register_profile("mutate", settings.default, database=None, phases=phases)
        settings.load_profile("mutate")


def _child(root: Path, tests: list[str], log: Path, check: list[str] | None) -> NoReturn:
    """Run pytest in ``root`` and exit with its status (``check``: baseline, see below)."""
    code = 70
    try:
        os.setpgid(0, 0)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.chdir(root)
        sys.path[:] = [str(root), *(p for p in sys.path if p and not p.startswith(str(REPO)))]
        sys.dont_write_bytecode = check is None  # the baseline fills __pycache__ once
        os.environ["HYPOTHESIS_PROFILE"] = "ci"
        import pytest

        code = int(pytest.main([*tests, *PYTEST_ARGS], plugins=[_FastFailures()]))
        for path in check or []:  # did the tests import our copy of each module?
            parts = Path(path).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found = getattr(sys.modules.get(name), "__file__", None)
            if found != str(root / path):
                print(f"mutate.py: the tests import {name} from {found}, not {root / path}")
                code = 99
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _fork(root: Path, tests: list[str], check: list[str] | None = None) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(root, tests, root / "mutate.log", check)
    try:
        os.setpgid(pid, pid)
    except OSError:  # the child got there first
        pass
    return pid


def _killed_by(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()
    return next((line[:160] for line in lines if line.startswith(("FAILED", "ERROR"))), "")


def _baseline(slots: list[Path], tests: list[str], modules: list[str]) -> float:
    """Run the unmutated tests in every copy at once; their slowest time, or exit."""
    assert "refimpl" not in sys.modules, "the fork server must never import refimpl"
    start = time.monotonic()
    pids = {_fork(slot, tests, modules): slot for slot in slots}
    seconds = 0.0
    while pids:
        pid, status = os.wait()
        slot, seconds = pids.pop(pid), time.monotonic() - start
        if os.waitstatus_to_exitcode(status) != 0:
            for other in pids:
                os.killpg(other, signal.SIGKILL)
            print((slot / "mutate.log").read_text(errors="replace")[-4000:], file=sys.stderr)
            sys.exit(f"mutate.py: the unmutated tests fail in {slot} (output above); stopping")
    for slot in slots:  # mutated modules must be compiled from source, every time
        for module in modules:
            for pyc in (slot / module).parent.glob(f"__pycache__/{Path(module).stem}.*.pyc"):
                pyc.unlink()
    return seconds


def _run(results: list[Result], slots: list[Path], tests: list[str], timeout: float) -> None:
    """Run every mutant, one per free copy, killing a child after ``timeout`` seconds."""
    pending, free = deque(results), list(slots)
    running: dict[int, tuple[Result, Path, float]] = {}
    originals = {r.module: (REPO / r.module).read_bytes() for r in results}
    try:
        while pending or running:
            while pending and free:
                result, slot = pending.popleft(), free.pop()
                source = originals[result.module].decode()
                (slot / result.module).write_bytes(_apply(source, result.mutant.edits).encode())
                running[_fork(slot, tests)] = (result, slot, time.monotonic())
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                for child, (result, _, started) in running.items():
                    if result.status != "timeout" and time.monotonic() - started > timeout:
                        result.status = "timeout"
                        os.killpg(child, signal.SIGKILL)
                time.sleep(0.01)
                continue
            result, slot, started = running.pop(pid)
            (slot / result.module).write_bytes(originals[result.module])
            free.append(slot)
            result.seconds = time.monotonic() - started
            result.exit_code = os.waitstatus_to_exitcode(status)
            if result.status != "timeout":
                result.status = "survived" if result.exit_code == 0 else "killed"
                result.killed_by = _killed_by(slot / "mutate.log") if result.exit_code else ""
            print({"killed": ".", "timeout": "T", "survived": "S"}[result.status], end="",
                  file=sys.stderr, flush=True)
    finally:
        for child in running:
            os.killpg(child, signal.SIGKILL)
            os.waitpid(child, 0)
        print(file=sys.stderr)


def _preload(files: Iterable[Path]) -> None:
    """Import, in the parent, every third-party module that refimpl and the tests import."""
    names = {"pytest", "hypothesis", "_hypothesis_pytestplugin"}
    for path in files:
        for node in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    for name in sorted(names):
        if name.split(".")[0] in ("refimpl", "conftest", "mutate") or name in sys.modules:
            continue
        try:
            spec = importlib.util.find_spec(name)
            if spec is not None and not str(spec.origin).startswith(str(REPO)):
                importlib.import_module(name)
        except Exception:  # a module that cannot be imported here is imported in the child
            pass


# --- equivalents, report, command line ---------------------------------------------------

def _equivalents(path: Path, generated: dict[str, list[Mutant]]
                 ) -> tuple[dict[str, dict[str, str]], list[str]]:
    """The listed equivalent ids (and reasons) per module under test, and the stale ids."""
    if not path.exists():
        return {}, []
    tomllib = importlib.import_module("tomllib")  # Python >= 3.11, for the command line only
    listed = tomllib.loads(path.read_text())
    stale = [f"{module}: {ident}" for module, mutants in generated.items()
             for ident in sorted(set(listed.get(module, {})) - {m.id for m in mutants})]
    for line in stale:
        print(f"warning: listed as equivalent but no longer generated: {line}", file=sys.stderr)
    return {module: dict(listed.get(module, {})) for module in generated}, stale


def _counts(results: list[Result]) -> dict[str, Any]:
    equivalent = sum(1 for r in results if r.equivalent and r.status == "survived")
    status = Counter(r.status for r in results if not (r.equivalent and r.status == "survived"))
    scored = len(results) - equivalent
    score = (status["killed"] + status["timeout"]) / scored if scored else 1.0
    return {"mutants": len(results), "equivalent": equivalent, "killed": status["killed"],
            "timeout": status["timeout"], "survived": status["survived"], "score": score}


def _report(by_module: dict[str, list[Result]]) -> str:
    width = max(len(m) for m in by_module)
    heads = ["mutants", "equivalent", "killed", "timeout", "survived", "score"]
    lines = [f"{'module':<{width}}  " + "  ".join(f"{h:>10}" for h in heads)]
    for module, results in by_module.items():
        c = _counts(results)
        cells = [f"{c[h]:>10}" for h in heads[:-1]] + [f"{c['score']:>10.1%}"]
        lines.append(f"{module:<{width}}  " + "  ".join(cells))
    for module, results in by_module.items():
        survivors = [r for r in results if r.status == "survived" and not r.equivalent]
        if survivors:
            lines.append(f"\nsurvivors in {module} (ids quoted as in the equivalents file):")
        for r in survivors:
            lines += [f"  {json.dumps(r.mutant.id)}",
                      *(f"    {line}" for line in r.mutant.diff.split("\n"))]
        for r in results:
            if r.equivalent and r.status != "survived":
                lines.append(f"warning: {module}: listed equivalent {r.mutant.id!r} is "
                             f"{r.status} ({r.killed_by}): remove it from the list")
    return "\n".join(lines)


def _paths(names: list[str], expand: bool) -> list[str]:
    """Repository-relative paths; directories become their ``.py`` files if ``expand``."""
    out = []
    for name in names:
        path = Path(name).resolve()
        if not path.exists() or not path.is_relative_to(REPO):
            sys.exit(f"mutate.py: {name} is not a file or directory in {REPO}")
        files = sorted(path.rglob("*.py")) if expand and path.is_dir() else [path]
        out += [str(f.relative_to(REPO)) for f in files if "__pycache__" not in f.parts]
    return out


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="+", help="modules (or directories) to mutate")
    parser.add_argument("--tests", action="append", required=True, help="a pytest path")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout-factor", type=float, default=5.0)
    parser.add_argument("--json", type=Path, help="write every mutant and outcome here")
    parser.add_argument("--only", help="mutate lines FIRST-LAST (or one LINE) only")
    parser.add_argument("--list", action="store_true", help="print the mutants, run nothing")
    parser.add_argument("--equivalents", type=Path,
                        default=REPO / "tests" / "mutation_equivalent.toml")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    modules, tests = _paths(args.modules, True), _paths(args.tests, False)
    generated = {m: generate_mutants((REPO / m).read_bytes().decode()) for m in modules}
    equivalents, stale = _equivalents(args.equivalents, generated)
    first, _, last = (args.only or f"1-{sys.maxsize}").partition("-")
    lines = range(int(first), int(last or first) + 1)
    results = [Result(module, m, equivalent=equivalents.get(module, {}).get(m.id, ""))
               for module, mutants in generated.items() for m in mutants if m.line in lines]
    if args.list:
        print("\n".join(f"{r.module}: {r.mutant.id}\n{r.mutant.diff}" for r in results))
        return 0
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")  # --jobs children share the cores
    _preload([*REPO.glob("refimpl/**/*.py"), *(p for t in map(REPO.joinpath, tests)
                                             for p in ([t] if t.is_file() else t.rglob("*.py")))])
    ignore = shutil.ignore_patterns(".git", "__pycache__", ".hypothesis", "*.egg-info",
                                    "build", "dist", ".venv*", "golden")
    with tempfile.TemporaryDirectory(prefix="refimpl-mutate-") as tmp:
        slots = [Path(shutil.copytree(REPO, Path(tmp) / f"copy{i}", ignore=ignore))
                 for i in range(args.jobs)]
        baseline = _baseline(slots, tests, modules)
        timeout = max(args.timeout_factor * baseline, MIN_TIMEOUT)
        print(f"baseline {baseline:.1f} s in {args.jobs} copies; timeout {timeout:.1f} s; "
              f"{len(results)} mutants", file=sys.stderr)
        start = time.monotonic()
        _run(results, slots, tests, timeout)
        elapsed = time.monotonic() - start
    by_module = {m: [r for r in results if r.module == m] for m in modules}
    print(_report(by_module))
    rate = 60 * len(results) / elapsed if elapsed else 0.0
    print(f"\n{len(results)} mutants in {elapsed:.0f} s: {rate:.1f} mutants/minute "
          f"with {args.jobs} jobs (baseline {baseline:.1f} s)")
    if args.json:
        summary = {"tests": tests, "jobs": args.jobs, "baseline_seconds": baseline,
                   "timeout_seconds": timeout, "elapsed_seconds": elapsed,
                   "mutants_per_minute": rate, "stale_equivalents": stale,
                   "modules": {m: {**_counts(rs), "results": [_as_json(r) for r in rs]}
                               for m, rs in by_module.items()}}
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


def _as_json(result: Result) -> dict[str, Any]:
    out = asdict(result)
    out["mutant"].pop("edits")
    return out


if __name__ == "__main__":
    sys.exit(main())
