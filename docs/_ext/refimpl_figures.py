"""Sphinx extension: figures made from refimpl's own functions while the site builds.

Every ``docs/figures/<name>.py`` (names starting with an underscore are helpers) defines
``make(path)``, which calls refimpl's real functions and saves one PNG at ``path``; run
on its own, ``python docs/figures/<name>.py out.png`` does the same. When the builder
starts, this extension runs every script and writes ``docs/_generated/figures/<name>.png``
(a file is rewritten only when its bytes change, so an unchanged figure does not make
Sphinx copy it again). A script that raises stops the build.

A page shows a figure with the ``refimpl-figure`` directive: its argument is the script's
name, its content the caption, and it adds a line naming the script::

    :::{refimpl-figure} rope_decay
    :alt: the decay indicator against the relative distance
    The caption.
    :::

matplotlib is imported only here and in the scripts: it is part of the ``docs`` extra,
never a dependency of refimpl.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.directives.patches import Figure
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

OUTPUT = Path("_generated") / "figures"


def scripts(srcdir: Path) -> list[Path]:
    return sorted(path for path in (srcdir / "figures").glob("*.py")
                  if not path.name.startswith("_"))


def run_script(script: Path, target: Path) -> None:
    """Import ``script`` as a fresh module and call its ``make`` with a scratch path."""
    spec = importlib.util.spec_from_file_location(f"refimpl_docs_figure_{script.stem}", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    scratch = target.with_suffix(".tmp.png")
    module.make(scratch)
    if target.exists() and target.read_bytes() == scratch.read_bytes():
        scratch.unlink()
    else:
        scratch.replace(target)


def make_figures(app: Sphinx) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display, the same pixels everywhere
    srcdir = Path(app.srcdir)
    out = srcdir / OUTPUT
    out.mkdir(parents=True, exist_ok=True)
    figures_dir = str(srcdir / "figures")
    if figures_dir not in sys.path:
        sys.path.insert(0, figures_dir)  # the scripts share docs/figures/_style.py
    wanted = {script.stem for script in scripts(srcdir)}
    for stale in out.glob("*.png"):
        if stale.stem not in wanted:
            stale.unlink()
    for script in scripts(srcdir):
        start = time.perf_counter()
        try:
            run_script(script, out / f"{script.stem}.png")
        except Exception as error:
            raise ExtensionError(f"docs/figures/{script.name} failed: {error!r}") from error
        logger.info(f"figure {script.stem}: {time.perf_counter() - start:.1f} s")


class RefimplFigure(Figure):
    """A figure made by ``docs/figures/<argument>.py``; the content is the caption."""

    option_spec = dict(Figure.option_spec, alt=directives.unchanged)

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        env = self.state.document.settings.env
        script = Path(env.srcdir) / "figures" / f"{name}.py"
        if not script.is_file():
            raise self.error(f"refimpl-figure: no script docs/figures/{name}.py")
        env.note_dependency(str(script))
        self.arguments[0] = f"/{OUTPUT.as_posix()}/{name}.png"
        self.options.setdefault("class", []).append("refimpl-figure")
        result = super().run()
        figure = result[0]
        if isinstance(figure, nodes.figure):
            credit = nodes.paragraph(classes=["refimpl-figure-source"])
            credit += nodes.Text("Made while the site was built by ")
            credit += nodes.literal(text=f"docs/figures/{name}.py")
            credit += nodes.Text(", from refimpl's own functions.")
            figure += nodes.legend("", credit)
        return result


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", make_figures)
    app.add_directive("refimpl-figure", RefimplFigure)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
