"""The chunking policy: headings kept with their text, exact line ranges, deterministic ids."""

from __future__ import annotations

import itertools

from domain.chunking import chunk_file, embedding_text
from domain.documents import SourceFile

DOC = """# Title { #title }

Intro line.

## Install

Run pip.

```bash
# not a heading, a shell comment
pip install thing
```

## Usage

### Deep

Deep text.
"""


def chunks_of(text: str, path: str = "doc.md", max_chars: int = 1200) -> list:
    return chunk_file(SourceFile(path, "sha", text), "repo", "commit", max_chars)


def test_markdown_sections_keep_their_heading_trail_and_exact_lines() -> None:
    chunks = chunks_of(DOC, max_chars=60)
    lines = DOC.splitlines()
    for chunk in chunks:
        assert chunk.text == "\n".join(lines[chunk.start_line - 1 : chunk.end_line])
    trails = [c.headings for c in chunks]
    assert ("Title",) in trails
    assert ("Title", "Install") in trails
    assert ("Title", "Usage", "Deep") in trails


def test_a_heading_only_section_is_merged_into_the_next() -> None:
    chunks = chunks_of(DOC)
    deep = next(c for c in chunks if "Deep text." in c.text)
    assert "## Usage" in deep.text and deep.headings == ("Title", "Usage", "Deep")


def test_hash_lines_inside_code_fences_are_not_headings() -> None:
    chunks = chunks_of(DOC)
    assert not any(c.headings[-1:] == ("not a heading, a shell comment",) for c in chunks)
    install = next(c for c in chunks if "pip install thing" in c.text)
    assert install.headings == ("Title", "Install")


def test_code_is_packed_from_blank_line_blocks_within_the_limit() -> None:
    code = "\n\n".join(f"def f{i}():\n    return {i}" for i in range(40))
    chunks = chunks_of(code, "mod.py", max_chars=200)
    assert len(chunks) > 1
    assert all(len(c.text) <= 200 for c in chunks)
    assert chunks[0].start_line == 1 and chunks[-1].end_line == len(code.splitlines())
    for before, after in itertools.pairwise(chunks):
        assert after.start_line > before.end_line


def test_an_oversized_block_is_cut_at_line_boundaries() -> None:
    text = "\n".join(f"line {i} " + "x" * 50 for i in range(100))
    chunks = chunks_of(text, "big.txt", max_chars=500)
    assert all(len(c.text) <= 500 for c in chunks)
    assert sum(c.end_line - c.start_line + 1 for c in chunks) == 100


def test_chunk_ids_are_deterministic_and_version_specific() -> None:
    first = chunks_of(DOC)
    again = chunks_of(DOC)
    other = chunk_file(SourceFile("doc.md", "other-sha", DOC), "repo", "commit")
    assert [c.id for c in first] == [c.id for c in again]
    assert not {c.id for c in first} & {c.id for c in other}


def test_empty_files_yield_no_chunks_and_embedding_text_names_the_context() -> None:
    assert chunks_of("\n\n   \n") == []
    chunk = chunks_of(DOC)[-1]
    assert embedding_text(chunk).startswith("doc.md: Title > Usage > Deep\n\n")
