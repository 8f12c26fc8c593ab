"""Markdown to safe HTML. Provider-written text (listing descriptions, spec descriptions) is
sanitized with nh3 (ammonia): no scripts, no event handlers, no javascript: links, and every
link gets rel="nofollow noopener noreferrer"."""

import markdown as markdown_lib
import nh3

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "th": {"align"},
    "td": {"align"},
    "code": {"class"},
    "span": {"class"},
    "div": {"class"},
    "h1": {"id"},
    "h2": {"id"},
    "h3": {"id"},
    "h4": {"id"},
}
EXTENSIONS = ["fenced_code", "tables", "sane_lists", "toc"]


def render_markdown(text: str, *, trusted: bool = False) -> str:
    """`trusted` is for our own docs/ files; everything else goes through the sanitizer."""
    html = markdown_lib.markdown(text or "", extensions=EXTENSIONS, output_format="html")
    if trusted:
        return html
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
