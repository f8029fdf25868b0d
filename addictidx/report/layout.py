"""A small flow layout for the PDF report: blocks stacked down A4 pages, a rule between blocks.

Each :class:`Block` knows its height before it is drawn (text is wrapped here, line by line), so
blocks never overlap and no text crosses a rule, at any number of pages: a block that does not
fit starts a new page, and long text blocks are split into continued blocks. :func:`paginate`
returns :class:`Page` objects holding every block's position and every rule's height, which
the layout test compares with the text boxes ``pdftotext -bbox`` finds in the written PDF.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "PAGE_W",
    "PAGE_H",
    "MARGIN_X",
    "BODY_TOP",
    "BODY_BOTTOM",
    "Block",
    "Page",
    "text_block",
    "figure_block",
    "paginate",
    "wrap_lines",
    "line_height",
]

PAGE_W, PAGE_H = 8.27, 11.69  # A4, inches
MARGIN_X = 0.6
BODY_TOP = 0.95  # inches from the top: below the header and its rule
BODY_BOTTOM = PAGE_H - 1.25  # inches from the top: above the footer's rule
GAP = 0.16  # between blocks; the rule sits in its middle
_PT = 1 / 72


def line_height(size: float) -> float:
    """Height of one text line of ``size`` points, in inches."""
    return size * 1.45 * _PT


def wrap_lines(text: str, size: float, width_in: float, *, mono: bool = False) -> list[str]:
    """Wrap ``text`` (paragraphs split on newlines) to fit ``width_in`` at ``size`` points.

    The character budget assumes DejaVu's widest common glyph width (0.62 em for the sans face,
    0.61 em monospace), so a wrapped line never runs past the right margin.
    """
    em = 0.61 if mono else 0.62
    n = max(20, int(width_in * 72 / (size * em)))
    out: list[str] = []
    for para in str(text).split("\n"):
        if not para.strip():
            out.append("")
            continue
        indent = para[: len(para) - len(para.lstrip())]
        out += textwrap.wrap(
            para, width=n, subsequent_indent=indent + "  ", break_on_hyphens=False
        ) or [""]
    return out


@dataclass
class Block:
    """One piece of a page.

    ``draw(fig, top_in)`` draws the block with its top ``top_in`` inches below the page top;
    ``text`` is the words it prints (for the layout test); ``new_page`` starts a page.
    """

    height: float
    draw: Callable
    text: str = ""
    new_page: bool = False
    name: str = ""


@dataclass
class Page:
    """Blocks placed on one page: ``(block, top_in)``, and rule heights (inches from top)."""

    blocks: list = field(default_factory=list)
    rules: list = field(default_factory=list)


def text_block(
    title: str | None,
    body: str | list[str],
    *,
    size: float = 7.0,
    mono: bool = False,
    color: str = "#222222",
    title_size: float = 9.0,
    name: str = "",
    max_lines: int | None = None,
    new_page: bool = False,
) -> list[Block]:
    """A titled text block (split into continued blocks of at most ``max_lines`` lines)."""
    width = PAGE_W - 2 * MARGIN_X
    paras = body if isinstance(body, list) else [body]
    lines: list[str] = []
    for p in paras:
        lines += wrap_lines(p, size, width, mono=mono)
    chunks = [lines]
    if max_lines is not None and len(lines) > max_lines:
        chunks = [lines[i : i + max_lines] for i in range(0, len(lines), max_lines)]
    blocks = []
    for k, chunk in enumerate(chunks):
        t = title if k == 0 or title is None else f"{title} (continued)"
        blocks.append(
            _text_chunk(t, chunk, size, mono, color, title_size, name, new_page and k == 0)
        )
    return blocks


def _text_chunk(title, lines, size, mono, color, title_size, name, new_page) -> Block:
    th = line_height(title_size) if title else 0.0
    lh = line_height(size)
    height = th + lh * len(lines)

    def draw(fig, top):
        y = top
        if title:
            fig.text(
                MARGIN_X / PAGE_W,
                1 - y / PAGE_H,
                title,
                fontsize=title_size,
                weight="bold",
                va="top",
                color="#1f4e79",
            )
            y += th
        for ln in lines:
            if ln:
                fig.text(
                    MARGIN_X / PAGE_W,
                    1 - y / PAGE_H,
                    ln,
                    fontsize=size,
                    va="top",
                    color=color,
                    family="monospace" if mono else None,
                )
            y += lh

    text = "\n".join(([title] if title else []) + lines)
    return Block(height, draw, text, new_page, name)


def figure_block(
    height: float,
    draw_axes: Callable,
    *,
    text: str = "",
    name: str = "",
    new_page: bool = False,
) -> Block:
    """A block of plots: ``draw_axes(fig, rect)`` with ``rect = (left, bottom, width, height)``
    in figure fractions covering the block (the function leaves room for its own labels)."""

    def draw(fig, top):
        rect = (
            MARGIN_X / PAGE_W,
            1 - (top + height) / PAGE_H,
            (PAGE_W - 2 * MARGIN_X) / PAGE_W,
            height / PAGE_H,
        )
        draw_axes(fig, rect)

    return Block(height, draw, text, new_page, name)


def paginate(blocks: list[Block]) -> list[Page]:
    """Stack blocks down pages; a rule between consecutive blocks on a page."""
    pages = [Page()]
    y = BODY_TOP
    for b in blocks:
        page = pages[-1]
        need = b.height + (GAP if page.blocks else 0.0)
        if page.blocks and (b.new_page or y + need > BODY_BOTTOM):
            pages.append(Page())
            page = pages[-1]
            y = BODY_TOP
        elif page.blocks:
            page.rules.append(y + GAP / 2)
            y += GAP
        page.blocks.append((b, y))
        y += b.height
    return pages
