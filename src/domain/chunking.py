"""Chunking policy: split a file into citeable spans with exact line ranges.

Markdown is split at headings (outside code fences) so each chunk keeps the heading
trail it lives under; large sections, code and plain text are packed from blank-line
separated blocks, and a block too large on its own is cut at line boundaries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from domain.documents import Chunk, SourceFile, chunk_id

MAX_CHARS = 1200
"""About 256 word pieces, the window all-MiniLM-L6-v2 reads before it truncates."""

MARKDOWN_SUFFIXES = (".md", ".mdx", ".markdown", ".rst", ".txt")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_ATTRIBUTES = re.compile(r"\s*\{[^}]*\}\s*$")
"""mkdocs attribute lists such as `{ #anchor }` are not part of a title."""
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class _Span:
    start: int  # 0-based index of the first line
    end: int  # 0-based index one past the last line
    headings: tuple[str, ...] = ()


def chunk_file(file: SourceFile, repository: str, commit: str, max_chars: int = MAX_CHARS) -> list[Chunk]:
    """Cut one file into chunks; empty or whitespace-only files yield none."""
    lines = file.text.splitlines()
    if file.path.lower().endswith(MARKDOWN_SUFFIXES):
        spans = _markdown_spans(lines, max_chars)
    else:
        spans = _pack(lines, _blocks(lines, 0, len(lines)), max_chars, ())
    chunks: list[Chunk] = []
    for span in spans:
        body = "\n".join(lines[span.start : span.end]).strip("\n")
        if not body.strip():
            continue
        start, end = _trim(lines, span)
        ordinal = len(chunks)
        chunks.append(
            Chunk(
                id=chunk_id(repository, file.path, file.blob_sha, ordinal),
                repository=repository,
                path=file.path,
                blob_sha=file.blob_sha,
                commit=commit,
                ordinal=ordinal,
                text=body,
                start_line=start + 1,
                end_line=end,
                headings=span.headings,
            )
        )
    return chunks


def embedding_text(chunk: Chunk) -> str:
    """What is embedded: the file path and heading trail give a passage its context."""
    trail = " > ".join(chunk.headings)
    header = f"{chunk.path}: {trail}" if trail else chunk.path
    return f"{header}\n\n{chunk.text}"


def _trim(lines: list[str], span: _Span) -> tuple[int, int]:
    start, end = span.start, span.end
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return start, end


def _markdown_spans(lines: list[str], max_chars: int) -> list[_Span]:
    sections: list[_Span] = []
    trail: list[tuple[int, str]] = []
    section_start = 0
    section_trail: tuple[str, ...] = ()
    in_fence = False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else _HEADING.match(line)
        if not match:
            continue
        if _has_body(lines, section_start, index):
            sections.append(_Span(section_start, index, section_trail))
            section_start = index
        level = len(match.group(1))
        title = _ATTRIBUTES.sub("", match.group(2)) or match.group(2)
        trail = [(lvl, t) for lvl, t in trail if lvl < level] + [(level, title)]
        section_trail = tuple(title for _, title in trail)
    sections.append(_Span(section_start, len(lines), section_trail))
    spans: list[_Span] = []
    for section in sections:
        spans.extend(_pack(lines, _blocks(lines, section.start, section.end), max_chars, section.headings))
    return spans


def _has_body(lines: list[str], start: int, end: int) -> bool:
    """A section made only of headings is merged into the next one."""
    return any(line.strip() and not _HEADING.match(line) for line in lines[start:end])


def _blocks(lines: list[str], start: int, end: int) -> list[_Span]:
    """Blank-line separated blocks, never splitting a fenced code block at a blank line."""
    blocks: list[_Span] = []
    block_start = start
    in_fence = False
    for index in range(start, end):
        line = lines[index]
        if _FENCE.match(line):
            in_fence = not in_fence
        if not line.strip() and not in_fence and index > block_start:
            blocks.append(_Span(block_start, index + 1))
            block_start = index + 1
    if block_start < end:
        blocks.append(_Span(block_start, end))
    return blocks


def _size(lines: list[str], start: int, end: int) -> int:
    return sum(len(line) + 1 for line in lines[start:end])


def _pack(lines: list[str], blocks: list[_Span], max_chars: int, headings: tuple[str, ...]) -> list[_Span]:
    spans: list[_Span] = []
    current: _Span | None = None
    for block in blocks:
        for piece in _split_oversized(lines, block, max_chars):
            if current and _size(lines, current.start, piece.end) <= max_chars:
                current = _Span(current.start, piece.end, headings)
                continue
            if current:
                spans.append(current)
            current = _Span(piece.start, piece.end, headings)
    if current:
        spans.append(current)
    return spans


def _split_oversized(lines: list[str], block: _Span, max_chars: int) -> list[_Span]:
    if _size(lines, block.start, block.end) <= max_chars:
        return [block]
    pieces: list[_Span] = []
    start = block.start
    size = 0
    for index in range(block.start, block.end):
        line_size = len(lines[index]) + 1
        if size and size + line_size > max_chars:
            pieces.append(_Span(start, index))
            start, size = index, 0
        size += line_size
    pieces.append(_Span(start, block.end))
    return pieces
