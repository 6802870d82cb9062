"""Sphinx configuration of refimpl's documentation site.

Build (the ``docs`` extra: ``python -m pip install -e ".[docs]"``)::

    python -m sphinx -W -b html docs docs/_build/html

``-W`` turns every warning into an error. The API pages (``docs/api/``) and the figures
(``docs/_generated/figures/``) are generated during the build, from the package and
from ``docs/figures/*.py``; neither is checked in. ``python docs/check_site.py`` opens
every built page in headless Chromium and checks it.
"""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))  # document this checkout's refimpl, not an installed one

import refimpl  # noqa: E402

project = "refimpl"
author = "the refimpl developers"
copyright = "2026, the refimpl developers"
release = refimpl.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax 3 shipped from the package into _static/mathjax/
    "refimpl_api",
    "refimpl_known_warnings",
    "refimpl_figures",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated", "README.md", "**/conftest.py"]
html_static_path = ["_static"]
html_css_files = ["refimpl.css"]

# --- math: rendered by MathJax 3 from the site itself, never from a CDN -----------------
# sphinx-mathjax-offline copies its MathJax into _static/mathjax/; the path is repeated
# here so that the site can never fall back to Sphinx's default CDN address.
mathjax_path = "mathjax/tex-chtml.js"
# Without the "noundefined" package an unknown macro is a TeX error (MathJax's merror,
# which docs/check_site.py fails on) instead of red text that looks typeset.
mathjax3_config = {"tex": {"packages": {"[-]": ["noundefined"]}}}

# --- markdown pages (MyST) -----------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# --- the API reference ---------------------------------------------------------------
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the numpydoc Parameters sections state the types in words
numpydoc_show_class_members = False  # autodoc's :members: lists methods once
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
add_module_names = False
python_display_short_literal_types = True

# Docstrings with a bare ``|x|`` (an rst substitution reference: an error under -W) in
# files the docs may not edit; their pipes outside literals are escaped at build time so
# that they render as written (refimpl_api). The proper fix is ``|x|`` in double
# backticks; an entry whose docstrings no longer need it fails the build, to be deleted.
refimpl_api_escape_pipes = {
    "refimpl.selfcheck.dimension": "roots_and_rule: |root - note|",
    "refimpl.selfcheck.householder": "orthogonality, determinants, product_against_lapack",
    "refimpl.testing.strategies": "positions: |p|",
}

# Every cross-reference must resolve (a broken link fails the -W build), except these,
# which point at functions that are not public (no page documents them); each waits for
# its docstring's owner to drop the role or the leading underscore is made public.
nitpicky = True
nitpick_ignore = [
    ("py:func", "refimpl.norms.layer_norm_unchecked"),  # transformer/layers.py, module doc
    ("py:func", "refimpl.attention.attention_weights_unchecked"),  # same
    ("py:func", "refimpl.attention.attention_backward_unchecked"),  # layers.attention_backward
    ("py:func", "refimpl.vmf.marginal.quantile_angle_kappa_derivative"),  # transform_vjp
    ("py:func", "_top_map"),  # widening/maps.py, expand_params
    ("py:func", "refimpl.rope.hf.longrope_factor_choices"),  # no such function (frequencies.py)
    ("py:func", "importlib.import_module"),  # the standard library (no intersphinx offline)
]
# Private modules and names (a leading underscore) have no page: the API reference shows
# the public surface only, and a docstring that names a private helper does so for a
# reader of the source.
nitpick_ignore_regex = [
    (r"py:(func|mod|data|class)", r"(refimpl\.[\w.]*\.)?_\w+(\.[\w.]+)?"),
]

# Warnings from docstrings in files the docs may not edit, let through by location and
# message start (refimpl_known_warnings); anything else fails the -W build. An entry that
# no longer matches fails it too, so that the list only shrinks.
refimpl_known_warnings = [
    ("docstring of refimpl.rope.grids:", "Malformed table.",
     "the module's table of grid conventions: 'centred, [-1,1]' runs into the next column"),
]

# --- HTML ------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"refimpl {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 4,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# The section navigation only where there is a section to navigate (the API reference);
# on the guide's top-level pages it would be an empty column.
html_sidebars = {"*": [], "api/**": ["sidebar-nav-bs"]}
html_show_sourcelink = True
html_last_updated_fmt = None
# the theme's light/dark default; left unset, its script logs a console error on a
# reader's first visit ("invalid theme mode")
html_context = {"default_mode": "auto"}
