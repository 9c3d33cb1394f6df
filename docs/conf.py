"""Sphinx configuration of attnsearch's documentation site.

    pip install ".[docs]" && python -m sphinx -W -b html docs docs/_build/html

The guides are the README's sections (one page per ``##`` section, generated
into ``docs/guide/`` at build time, so the README stays the one source); the
API reference comes from the numpydoc docstrings; the gallery runs
``examples/*.py`` with small sizes (sphinx-gallery) and shows their pictures.
"""

import os
import re
import sys
from pathlib import Path

import attnsearch

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

project = "attnsearch"
copyright = "2026, the attnsearch developers"
author = "the attnsearch developers"
release = attnsearch.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "guide/README_*"]
html_theme = "pydata_sphinx_theme"
html_title = f"attnsearch {release}"
html_theme_options = {"navigation_with_keys": False}

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections say it
autodoc_mock_imports = ["torch"]  # the torch bridge is documented without torch
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
myst_heading_anchors = 3

# Small sizes for the gallery (examples/_common.py), no windows.
os.environ.setdefault("ATTNSEARCH_EXAMPLES_SMALL", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(ROOT / "examples"))
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/[a-z]",  # run every example (not the _common helper)
    "ignore_pattern": r"(^|/)_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "min_reported_time": 1,
}


def _guide_pages():
    """Write one page per ``##`` section of README.md into docs/guide/."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    # Links to files of the repository point at their docs page or at GitHub-less
    # plain names (the site has no copy of the source tree).
    text = text.replace("](ARCHITECTURE.md)", "](../architecture.md)")
    text = text.replace("](CHANGELOG.md)", "](../changelog.md)")
    text = text.replace("](examples/README.rst)", "](../auto_examples/index.rst)")
    text = text.replace("](bench/README.md)", "](../benchmarks.md)")
    text = text.replace("](CONTRIBUTING.md)", "](../contributing.md)")
    sections = re.split(r"^## ", text, flags=re.M)
    guide = DOCS / "guide"
    guide.mkdir(exist_ok=True)
    names = []
    for section in sections[1:]:
        title, _, body = section.partition("\n")
        slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
        page = guide / f"{slug}.md"
        content = f"# {title}\n{body}"
        if not page.exists() or page.read_text(encoding="utf-8") != content:
            page.write_text(content, encoding="utf-8")
        names.append(slug)
    index = "# Guide\n\n```{toctree}\n:maxdepth: 2\n\n" + "\n".join(names) + "\n```\n"
    if not (guide / "index.md").exists() or (guide / "index.md").read_text() != index:
        (guide / "index.md").write_text(index, encoding="utf-8")


_guide_pages()
