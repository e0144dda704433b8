"""Markdown written by staff, rendered on the server to HTML that is safe to show: raw HTML in the
source is not interpreted, and the result passes an allow-list sanitizer (nh3, Ammonia) of tags,
attributes and URL schemes. Images may only be the object's own uploads (`![alt](image:<id>)`), so a
notice cannot make every reader's phone fetch a tracking pixel."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

TAGS = frozenset(
    {
        *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code"),
        *("strong", "em", "del", "s", "ul", "ol", "li", "a", "img"),
        *("table", "thead", "tbody", "tr", "th", "td"),
    }
)
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
IMAGE_SCHEME = "image:"


@cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def _rewrite_images(tokens: list[Token], image_url: Callable[[str], str | None]) -> None:
    """`image:<id>` becomes the upload's URL; any other image (or an unknown id) becomes its alt text."""
    for token in tokens:
        if token.children:
            _rewrite_images(token.children, image_url)
        if token.type != "image":
            continue
        src = str(token.attrGet("src") or "")
        url = image_url(src.removeprefix(IMAGE_SCHEME)) if src.startswith(IMAGE_SCHEME) else None
        if url is None:
            token.type, token.tag, token.nesting = "text", "", 0
            token.content = "".join(c.content for c in token.children or [])
            token.children = None
        else:
            token.attrSet("src", url)


def render(source: str, *, image_url: Callable[[str], str | None] = lambda _: None) -> str:
    """Sanitized HTML of the Markdown `source`; `image_url` maps an upload's id to its URL (None: refused)."""
    parser = _parser()
    tokens = parser.parse(source)
    _rewrite_images(tokens, image_url)
    html = parser.renderer.render(tokens, parser.options, {})
    return nh3.clean(
        html,
        tags=set(TAGS),
        attributes={k: set(v) for k, v in ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
    )
