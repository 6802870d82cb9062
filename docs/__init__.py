"""Marks ``docs/`` as a package for pytest only.

pytest imports a ``conftest.py`` outside a package under the bare name ``conftest``;
with ``tests/conftest.py`` and ``docs/conftest.py`` both collected (setup.cfg's
``testpaths`` include ``docs``), the second would clash with the first. Inside this
package, docs' own is ``docs.conftest``. Nothing imports ``docs`` otherwise.
"""
