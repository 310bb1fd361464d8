"""Chunking policy: split a file into citeable spans with exact line ranges.

Each format finds its own structure (`markdown`, `rst`, `code`); files of other kinds, and code
no parser outlined, are packed from blank-line blocks (`spans`). Whatever the format:

- A chunk's `text` is exactly lines `start_line`..`end_line` of the file (1-based, `\\n`-separated,
  as GitHub numbers them), and starts and ends on a line of content: never on a blank line, nor
  on a line of markup (front matter, an import, a JSX tag).
- Markup inside a chunk stays in its `text`, so what is cited is what the file says, but is left
  out of its `search_text`, which is what is embedded and matched. A chunk of markup only is none.
- A chunk is at most `max_chars` long, unless it is a single line that is longer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from domain.chunking.code import CodeSymbol, code_layout
from domain.chunking.markdown import markdown_layout
from domain.chunking.rst import rst_layout
from domain.chunking.spans import Layout, Span, blank_line_blocks, pack
from domain.documents import Chunk, SourceFile, chunk_id

__all__ = ["MAX_CHARS", "CodeSymbol", "chunk_file", "embedding_text", "searchable_text", "source_lines"]

MAX_CHARS = 1200
"""About 256 word pieces, the window all-MiniLM-L6-v2 reads before it truncates."""

MARKDOWN_SUFFIXES = (".md", ".mdx", ".markdown")
PLAIN_TEXT_SUFFIXES = (".txt",)
"""Headings like Markdown's, but no markup: `<input>` in a text file is text."""
RST_SUFFIXES = (".rst",)
_BLANK_RUNS = re.compile(r"\n\s*\n(\s*\n)+")


def chunk_file(
    file: SourceFile,
    repository: str,
    commit: str,
    symbols: Sequence[CodeSymbol] = (),
    *,
    max_chars: int = MAX_CHARS,
) -> list[Chunk]:
    """Cut one file into chunks; `symbols` are its code symbols, when a parser outlined it.

    Empty or whitespace-only files yield none.
    """
    lines = source_lines(file.text)
    layout = _layout(file.path.lower(), lines, symbols, max_chars)
    chunks: list[Chunk] = []
    for span in layout.spans:
        start, end = _trim(lines, span, layout)
        searched = _searched(lines, start, end, layout)
        if not searched.strip():
            continue
        text = "\n".join(lines[start:end])
        ordinal = len(chunks)
        chunks.append(
            Chunk(
                id=chunk_id(repository, file.path, file.blob_sha, ordinal),
                repository=repository,
                path=file.path,
                blob_sha=file.blob_sha,
                commit=commit,
                ordinal=ordinal,
                text=text,
                start_line=start + 1,
                end_line=end,
                headings=span.headings,
                search_text="" if searched == text else searched,
            )
        )
    return chunks


def source_lines(text: str) -> list[str]:
    """The lines of a file as editors and GitHub number them: split at `\\n` only, `\\r` endings dropped."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines and not lines[-1]:
        lines.pop()
    return lines


def searchable_text(chunk: Chunk) -> str:
    """The chunk's content without markup: what is embedded and what keyword search should match."""
    return chunk.search_text or chunk.text


def embedding_text(chunk: Chunk) -> str:
    """What is embedded: the file path and heading trail give a passage its context."""
    trail = " > ".join(chunk.headings)
    header = f"{chunk.path}: {trail}" if trail else chunk.path
    return f"{header}\n\n{searchable_text(chunk)}"


def _layout(path: str, lines: list[str], symbols: Sequence[CodeSymbol], max_chars: int) -> Layout:
    if path.endswith(MARKDOWN_SUFFIXES):
        return markdown_layout(lines, max_chars, with_markup=True)
    if path.endswith(PLAIN_TEXT_SUFFIXES):
        return markdown_layout(lines, max_chars, with_markup=False)
    if path.endswith(RST_SUFFIXES):
        return rst_layout(lines, max_chars)
    if symbols:
        return code_layout(lines, symbols, max_chars)
    return Layout(pack(lines, blank_line_blocks(lines, 0, len(lines)), max_chars, ()))


def _trim(lines: list[str], span: Span, layout: Layout) -> tuple[int, int]:
    """Span bounds moved inwards past blank lines and markup."""
    start, end = span.start, span.end
    while start < end and (not lines[start].strip() or start in layout.noise):
        start += 1
    while end > start and (not lines[end - 1].strip() or end - 1 in layout.noise):
        end -= 1
    return start, end


def _searched(lines: list[str], start: int, end: int, layout: Layout) -> str:
    if not layout.noise and not layout.rewrites:
        return "\n".join(lines[start:end])
    kept = [layout.rewrites.get(i, lines[i]) for i in range(start, end) if i not in layout.noise]
    return _BLANK_RUNS.sub("\n\n", "\n".join(kept)).strip("\n")
