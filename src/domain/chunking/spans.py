"""Line spans and the packer every format shares: blocks packed up to a size, oversized ones cut."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Span:
    """Lines [start, end) of a file (0-based), under a heading trail."""

    start: int
    end: int
    headings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    """How a format cut a file: its spans, and what of their lines is markup rather than content.

    `noise` lines (front matter, imports, JSX tags) never start or end a chunk and are left out of
    what is embedded; `rewrites` are lines whose embedded form drops inline markup.
    """

    spans: list[Span]
    noise: Collection[int] = frozenset()
    rewrites: Mapping[int, str] = field(default_factory=dict)


def size(lines: Sequence[str], start: int, end: int) -> int:
    return sum(len(line) + 1 for line in lines[start:end])


def has_text(lines: Sequence[str], start: int, end: int) -> bool:
    return any(line.strip() for line in lines[start:end])


def blank_line_blocks(
    lines: Sequence[str], start: int, end: int, joined: Callable[[int], bool] = lambda _index: False
) -> list[Span]:
    """Blocks that end after a blank line, unless `joined(index)` says that blank line belongs to the block."""
    blocks: list[Span] = []
    block_start = start
    for index in range(start, end):
        if not lines[index].strip() and index > block_start and not joined(index):
            blocks.append(Span(block_start, index + 1))
            block_start = index + 1
    if block_start < end:
        blocks.append(Span(block_start, end))
    return blocks


def pack(lines: Sequence[str], blocks: Sequence[Span], max_chars: int, headings: tuple[str, ...]) -> list[Span]:
    """Adjacent blocks packed into spans of at most `max_chars`; a block with a trail of its own keeps it."""
    spans: list[Span] = []
    current: Span | None = None
    current_size = 0
    for block in blocks:
        trail = block.headings or headings
        for piece in split_oversized(lines, block, max_chars):
            piece_size = size(lines, piece.start, piece.end)
            if current and current.headings == trail and current_size + piece_size <= max_chars:
                current = Span(current.start, piece.end, trail)
                current_size += piece_size
                continue
            if current:
                spans.append(current)
            current, current_size = Span(piece.start, piece.end, trail), piece_size
    if current:
        spans.append(current)
    return spans


def split_oversized(lines: Sequence[str], block: Span, max_chars: int) -> list[Span]:
    """A block over the limit is cut at its blank lines first, then at line boundaries."""
    if size(lines, block.start, block.end) <= max_chars:
        return [block]
    paragraphs = blank_line_blocks(lines, block.start, block.end)
    if len(paragraphs) > 1:
        return pack(lines, paragraphs, max_chars, ())
    pieces: list[Span] = []
    start = block.start
    total = 0
    for index in range(block.start, block.end):
        line_size = len(lines[index]) + 1
        if total and total + line_size > max_chars:
            pieces.append(Span(start, index))
            start, total = index, 0
        total += line_size
    pieces.append(Span(start, block.end))
    return pieces
