"""reStructuredText: sections at adorned titles, blocks that keep directives and literal blocks whole.

A title is a line at the left margin under a blank line (or the top of the file), underlined with
a run of one punctuation character at least as long as the title, optionally with an overline of
the same character. As in docutils, a title's level is the order in which its adornment style
(the character, with or without overline) first appears in the file. `.. _label:` targets just
above a title open that title's section (they name it); they are never titles themselves.

A blank line ends a block only when the next line is indented no deeper than the block's first
line, so a `.. directive::` with its options and content, or a paragraph ending in `::` with its
literal block, stays one block. An object directive (`.. function:: print(*objects)`) too large
for one chunk adds itself (`function print`) to the trail of its pieces.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from domain.chunking.spans import Layout, Span, pack, size

_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1+\s*$")
_TARGET = re.compile(r"^\.\. _[^:]+:\s*$")
_COMMENT = re.compile(r"^\.\.(?:\s*$|\s+(?![_\[|])(?!\S+::))")
"""`.. ` then anything but a directive (`name::`), a target (`_`), a footnote (`[`) or a substitution (`|`)."""
_INDEX = re.compile(r"^\.\. index::")
_OBJECT = re.compile(
    r"^\.\. (?:\w+:)?(function|class|method|classmethod|staticmethod|attribute|data|exception|decorator|"
    r"decoratormethod|coroutinefunction|coroutinemethod|property|type|module|option|envvar|opcode|"
    r"describe|cmdoption|macro|member|var)::\s*([^\s(\[]+)"
)


@dataclass(frozen=True)
class _Title:
    start: int
    """The first line of the title's section: its overline, its title line, or the targets above it."""
    line: int
    """Its overline, or its title line when it has none."""
    end: int
    """One past the underline."""
    text: str
    style: tuple[str, bool]


def rst_layout(lines: Sequence[str], max_chars: int) -> Layout:
    spans: list[Span] = []
    for section in _sections(lines):
        blocks = [_labelled(lines, b, max_chars, section.headings) for b in _blocks(lines, section.start, section.end)]
        spans.extend(pack(lines, blocks, max_chars, section.headings))
    return Layout(spans, noise=_comments(lines))


def _comments(lines: Sequence[str]) -> set[int]:
    """Comments (`.. text`, with their indented lines) are not embedded."""
    noise: set[int] = set()
    index = 0
    while index < len(lines):
        if not _COMMENT.match(lines[index]):
            index += 1
            continue
        noise.add(index)
        index += 1
        while index < len(lines) and (not lines[index].strip() or lines[index][:1].isspace()):
            noise.add(index)
            index += 1
    return noise


def _sections(lines: Sequence[str]) -> list[Span]:
    sections: list[Span] = []
    styles: list[tuple[str, bool]] = []
    trail: list[tuple[int, str]] = []
    section_start = 0
    section_trail: tuple[str, ...] = ()
    title_lines: set[int] = set()
    for title in _titles(lines):
        if _has_body(lines, section_start, title.start, title_lines):
            sections.append(Span(section_start, title.start, section_trail))
            section_start = title.start
        if title.style not in styles:
            styles.append(title.style)
        level = styles.index(title.style)
        trail = [(lvl, text) for lvl, text in trail if lvl < level] + [(level, title.text)]
        section_trail = tuple(text for _, text in trail)
        title_lines.update(range(title.line, title.end))
    sections.append(Span(section_start, len(lines), section_trail))
    return sections


def _titles(lines: Sequence[str]) -> list[_Title]:
    titles: list[_Title] = []
    index = 0
    while index < len(lines) - 1:
        title = _title_at(lines, index)
        if title is None:
            index += 1
            continue
        titles.append(title)
        index = title.end
    return titles


def _title_at(lines: Sequence[str], index: int) -> _Title | None:
    """The title whose overline or title line is line `index`, if one is."""
    if index and lines[index - 1].strip():
        return None
    first = _ADORNMENT.match(lines[index])
    if first and index + 2 < len(lines):
        text, under = lines[index + 1], _ADORNMENT.match(lines[index + 2])
        if text.strip() and not _ADORNMENT.match(text) and under and under.group(1) == first.group(1):
            return _Title(_targets_above(lines, index), index, index + 3, text.strip(), (first.group(1), True))
        return None
    if first or lines[index][:1].isspace() or not lines[index].strip() or lines[index].startswith((".. ", ">>>")):
        return None
    under = _ADORNMENT.match(lines[index + 1])
    if under and len(lines[index + 1].rstrip()) >= len(lines[index].rstrip()):
        return _Title(_targets_above(lines, index), index, index + 2, lines[index].strip(), (under.group(1), False))
    return None


def _targets_above(lines: Sequence[str], index: int) -> int:
    """The first of the `.. _label:` lines (and blank lines between them) just above line `index`."""
    start = index
    probe = index - 1
    while probe >= 0 and (not lines[probe].strip() or _TARGET.match(lines[probe])):
        if lines[probe].strip():
            start = probe
        probe -= 1
    return start


def _has_body(lines: Sequence[str], start: int, end: int, title_lines: set[int]) -> bool:
    """A section made only of its title (and targets) is merged into the next one."""
    return any(
        lines[index].strip() and index not in title_lines and not _TARGET.match(lines[index])
        for index in range(start, end)
    )


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _blocks(lines: Sequence[str], start: int, end: int) -> list[Span]:
    blocks: list[Span] = []
    block_start = start
    opener: str | None = None
    for index in range(start, end):
        line = lines[index]
        if line.strip():
            opener = line if opener is None else opener
            continue
        if opener is None or _INDEX.match(opener):
            continue  # an index entry belongs with what it indexes
        following = next((i for i in range(index + 1, end) if lines[i].strip()), None)
        if following is None or _indent(lines[following]) <= _indent(opener):
            blocks.append(Span(block_start, index + 1))
            block_start, opener = index + 1, None
    if block_start < end:
        blocks.append(Span(block_start, end))
    return blocks


def _labelled(lines: Sequence[str], block: Span, max_chars: int, headings: tuple[str, ...]) -> Span:
    """An oversized object directive names itself in the trail of its pieces."""
    if size(lines, block.start, block.end) <= max_chars:
        return block
    starts = (lines[i] for i in range(block.start, block.end) if lines[i][:1].strip() and not _INDEX.match(lines[i]))
    match = _OBJECT.match(next(starts, ""))
    if not match:
        return block
    return Span(block.start, block.end, (*headings, f"{match.group(1)} {match.group(2)}"))
