"""Text from users' files made safe to display: in map HTML/JavaScript and in markdown."""

from __future__ import annotations

import math
import re

#: Characters that end or open a JavaScript template literal or string, or an HTML tag or
#: attribute. folium puts popup, tooltip and icon HTML inside JavaScript template literals
#: (backticks), where ``${…}`` would run: all of them become HTML character references.
_JS_HTML = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#39;",
    "`": "&#96;",
    "$": "&#36;",
    "\\": "&#92;",
    "{": "&#123;",
    "}": "&#125;",
}
_JS_HTML_RE = re.compile("[" + re.escape("".join(_JS_HTML)) + "]")
#: Every ASCII punctuation character may be backslash-escaped in CommonMark; escaping all of
#: them stops links, images, emphasis, HTML, Streamlit's ``:colour[…]`` directives and LaTeX.
_MD_RE = re.compile(r"([!-/:-@\[-`{-~])")


def safe_html(value: object) -> str:
    """User text as inert HTML that is also safe inside a JavaScript template literal.

    Control characters (including NUL and line breaks) become spaces.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in str(value))
    return _JS_HTML_RE.sub(lambda m: _JS_HTML[m.group(0)], text)


def plain_markdown(value: object) -> str:
    """User text to show through Streamlit markdown exactly as written (nothing rendered)."""
    text = "".join(" " if ord(c) < 32 and c != "\n" else c for c in str(value))
    return _MD_RE.sub(r"\\\1", text).replace("\n", "  \n")
