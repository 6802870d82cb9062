"""Sphinx extension: let through, by name, the few warnings the docs cannot fix yet.

The site builds with ``-W``. A docstring that produces a warning is fixed in its own
file; while that file belongs to someone else, conf.py's ``refimpl_known_warnings``
lists the warning as ``(where, message start, why)``: ``where`` is a piece of the
warning's location (e.g. ``"docstring of refimpl.rope.grids:"``), and only a warning
whose location contains it and whose message starts with ``message start`` is dropped
(before Sphinx counts it). Everything else still fails the build.

An entry that matched nothing during a build that read every page is stale: it is
reported as a warning, so that the list only ever shrinks.
"""

from __future__ import annotations

import logging
from typing import Any

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging as sphinx_logging
from sphinx.util.logging import WarningStreamHandler

logger = sphinx_logging.getLogger(__name__)


class KnownWarnings(logging.Filter):
    """Drops the listed warnings and remembers which entries were used."""

    def __init__(self, entries: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.entries = entries
        self.used: set[int] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        location = str(getattr(record, "location", "") or "")
        message = record.getMessage()
        for index, (where, start, _why) in enumerate(self.entries):
            if where in location and message.startswith(start):
                self.used.add(index)
                return False
        return True


_filter: KnownWarnings | None = None
_read_everything = False


def install(app: Sphinx) -> None:
    global _filter
    _filter = KnownWarnings([tuple(entry) for entry in app.config.refimpl_known_warnings])
    for handler in logging.getLogger("sphinx").handlers:
        if isinstance(handler, WarningStreamHandler):
            handler.filters.insert(0, _filter)  # before Sphinx's own filters count it


def note_reading(app: Sphinx, env: BuildEnvironment, docnames: list[str]) -> None:
    global _read_everything
    _read_everything = set(docnames) >= set(env.found_docs)


def report_stale(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or _filter is None or not _read_everything:
        return
    for index, (where, start, _why) in enumerate(_filter.entries):
        if index not in _filter.used:
            logger.warning(f"refimpl_known_warnings: nothing matched ({where!r}, {start!r}); "
                           f"delete the entry in docs/conf.py")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("refimpl_known_warnings", [], "env")
    app.connect("config-inited", lambda app, config: install(app))
    app.connect("env-before-read-docs", note_reading)
    app.connect("build-finished", report_stale)
    return {"parallel_read_safe": False, "parallel_write_safe": True}
