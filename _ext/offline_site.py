"""Sphinx hooks for an offline site: nothing on a page may come from the internet.

1. MathJax is served from ``_static/mathjax`` (fetched from npm by scripts/fetch_assets.sh). jupyter-book 1.x adds
   every ``*.js`` under ``_static`` to every page; MathJax's component files must not be loaded that way (MathJax
   loads the few it needs itself), so they are dropped. A missing MathJax is an error, not a site with broken math.
2. Thebe (live code through Binder, from unpkg.com) is off, but sphinx-thebe 0.3.1 still puts its configuration
   script on every page, twice (a JavaScript SyntaxError: 'THEBE_JS_URL' has already been declared). With thebe
   off, its page hooks are disconnected.
3. Citations read "(He et al., 2016)": sphinxcontrib-bibtex's author-year style with round brackets, registered as
   ``author_year_round`` (the recipe of sphinxcontrib-bibtex's documentation).
4. Short names in resnet_lib's docstrings (``:class:`History```, ``rl.fit``, ``resnet_lib.fit``) resolve to the one documented
   ``resnet_lib`` object with that name; a name that matches none (or several) stays a nitpicky warning.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import sphinxcontrib.bibtex.plugin

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError
from sphinx.util.nodes import make_refnode
from sphinxcontrib.bibtex.style.referencing import BracketStyle
from sphinxcontrib.bibtex.style.referencing.author_year import AuthorYearReferenceStyle

MATHJAX_DIR = "mathjax/"


def _offline(app: Sphinx, config: Config) -> None:
    def keep(entry: object) -> bool:
        name = entry[0] if isinstance(entry, (tuple, list)) else entry
        return not str(name).startswith(MATHJAX_DIR)

    config.html_js_files = [e for e in config.html_js_files if keep(e)]
    config.html_css_files = [e for e in config.html_css_files if keep(e)]
    path = str(config.mathjax_path)
    if "://" in path or path.startswith("//"):
        raise ConfigError(f"mathjax_path={path!r} loads MathJax from the internet: use a path under _static/")
    if not (Path(app.srcdir) / "_static" / path).is_file():
        raise ConfigError(f"_static/{path} is missing: run 'bash scripts/fetch_assets.sh' (MathJax from npm) first")

    if not config.html_theme_options.get("launch_buttons", {}).get("thebe"):
        for event in ("env-before-read-docs", "doctree-resolved"):  # its scripts; its local css stays
            for listener in list(app.events.listeners.get(event, [])):
                if getattr(listener.handler, "__module__", "").startswith("sphinx_thebe"):
                    app.disconnect(listener.id)


def _resolve_short_name(app: Sphinx, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "").removeprefix("rl.")
    if target.startswith("resnet_lib.") and target.count(".") == 1:
        target = target.removeprefix("resnet_lib.")  # a re-export: resnet_lib.get_model is models.get_model
    if not target or target.startswith("resnet_lib."):
        return None
    objects = env.get_domain("py").objects
    found = [name for name in objects if name.startswith("resnet_lib.") and name.endswith("." + target)]
    if len(found) != 1:
        return None
    entry = objects[found[0]]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, found[0])


def _round() -> BracketStyle:
    return BracketStyle(left="(", right=")")


@dataclass
class RoundAuthorYearStyle(AuthorYearReferenceStyle):
    bracket_parenthetical: BracketStyle = field(default_factory=_round)
    bracket_textual: BracketStyle = field(default_factory=_round)
    bracket_author: BracketStyle = field(default_factory=_round)
    bracket_label: BracketStyle = field(default_factory=_round)
    bracket_year: BracketStyle = field(default_factory=_round)


def setup(app: Sphinx) -> dict[str, object]:
    sphinxcontrib.bibtex.plugin.register_plugin(
        "sphinxcontrib.bibtex.style.referencing", "author_year_round", RoundAuthorYearStyle, force=True)
    app.connect("config-inited", _offline, priority=900)
    app.connect("missing-reference", _resolve_short_name)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
