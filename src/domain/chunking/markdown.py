"""Markdown (and MDX): sections at `#` headings outside code fences, packed from blank-line blocks.

A front-matter `title` heads the trail of a page as a level-1 heading would: a page without a `#`
title of its own files every section under it, and a page's `# Title` takes its place (the two
name the same page, and the body's is the one readers see).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from domain.chunking.markup import Markup, fenced_lines, find_markup, strip_markup
from domain.chunking.spans import Layout, Span, blank_line_blocks, pack

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_ATTRIBUTES = re.compile(r"\s*\{[^}]*\}\s*$")
"""mkdocs attribute lists such as `{ #anchor }` and MDX anchors such as `{/*anchor*/}` are not part of a title."""


def markdown_layout(lines: Sequence[str], max_chars: int, with_markup: bool) -> Layout:
    """`with_markup`: find front matter, MDX and HTML markup (Markdown files); plain text has none."""
    markup = find_markup(lines) if with_markup else Markup(fenced_lines(lines))
    spans: list[Span] = []
    fenced = markup.fenced
    for section in _sections(lines, markup):
        blocks = blank_line_blocks(lines, section.start, section.end, fenced.__getitem__)
        spans.extend(pack(lines, blocks, max_chars, section.headings))
    return Layout(spans, markup.noise, markup.rewrites)


def _sections(lines: Sequence[str], markup: Markup) -> list[Span]:
    sections: list[Span] = []
    trail: list[tuple[int, str]] = [(1, markup.title)] if markup.title else []
    section_start = 0
    section_trail = tuple(title for _, title in trail)
    for index in range(len(lines)):
        match = _heading(lines, index, markup)
        if not match:
            continue
        if _has_body(lines, section_start, index, markup):
            sections.append(Span(section_start, index, section_trail))
            section_start = index
        level = len(match.group(1))
        trail = [(lvl, t) for lvl, t in trail if lvl < level] + [(level, _title(match.group(2)))]
        section_trail = tuple(title for _, title in trail)
    sections.append(Span(section_start, len(lines), section_trail))
    return sections


def _heading(lines: Sequence[str], index: int, markup: Markup) -> re.Match[str] | None:
    if markup.fenced[index] or index in markup.noise:
        return None
    return _HEADING.match(lines[index])


def _title(raw: str) -> str:
    title = _ATTRIBUTES.sub("", strip_markup(raw)).strip()
    return title or raw


def _has_body(lines: Sequence[str], start: int, end: int, markup: Markup) -> bool:
    """A section made only of headings (and markup) is merged into the next one."""
    return any(
        lines[index].strip() and index not in markup.noise and not _heading(lines, index, markup)
        for index in range(start, end)
    )
