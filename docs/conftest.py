"""pytest in docs/: collect the pages' doctests (``--doctest-glob=*.md``), nothing else.

setup.cfg's ``testpaths`` include ``docs`` and ``--doctest-modules`` imports every ``.py``
file it collects. The site's own Python (the Sphinx configuration and extensions, the
figure scripts, the browser check) imports Sphinx, matplotlib or Playwright, which only
the ``docs`` extra installs, and holds no doctests: leave it out. The build output
(``_build``, ``_generated``) and the generated API pages are not sources either.
"""

collect_ignore = ["conf.py", "check_site.py"]
collect_ignore_glob = ["_ext/*", "figures/*", "_build/*", "_generated/*", "api/*"]
