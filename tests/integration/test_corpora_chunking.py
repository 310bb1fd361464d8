"""Chunking real corpora (every folder under shared/corpora), and code and MDX through embedded Chroma.

The corpus test chunks only (no embedding), through the real local folder source and tree-sitter:
every chunk cites exact lines, none is empty or over the limit, MDX markup never reaches what is
embedded, and every reStructuredText title heads a trail.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from adapters.chunking.tree_sitter_outline import TreeSitterOutline
from adapters.data_dir_lock import DataDirLock
from adapters.sources.local_folder import LocalFolderSource
from adapters.vectorstore.chroma_client import open_embedded_chroma
from adapters.vectorstore.chroma_index import ChromaVectorIndex
from adapters.vectorstore.chroma_manifests import ChromaManifestStore
from application.indexing import IndexRepository
from domain.chunking import MAX_CHARS, chunk_file, searchable_text
from domain.documents import CHUNKER_VERSION, FIRST_CHUNKER_VERSION, Chunk, SourceFile, chunk_id
from domain.jobs import IndexRequest
from entrypoints.source_input import source_spec
from tests.integration.helpers import ROOT
from tests.integration.test_incremental_reindex import CountingEmbedder
from tests.unit.test_chunking import cites_exact_lines

CORPORA = ROOT.parent / "shared" / "corpora"
CORPUS_NAMES = sorted(p.name for p in CORPORA.iterdir() if p.is_dir()) if CORPORA.is_dir() else ["missing"]
MARKUP = re.compile(
    r"^(?:title:|import\s.*\sfrom\s|export\s+(?:default|const|function)\b|\s*</?[A-Z][\w.]*(?:[\s>/]|$)|\s*\{/\*)"
)
"""Lines of front matter, MDX imports and exports, JSX component tags and comments."""
RST_TITLE = re.compile(r"^(?P<title>[^\s.].*)\n(?P<underline>([=\-~^\"'*+#])\3+)$", re.MULTILINE)


async def read_corpus(folder: Path) -> list[SourceFile]:
    source, spec = LocalFolderSource(), source_spec(str(folder))
    snapshot = await source.snapshot(spec, None)
    return [file async for file in source.read(spec, snapshot.version, snapshot.files or ())]


def fenced_lines(text: str) -> set[str]:
    """The lines of a Markdown file inside its code fences, where markup-like lines are code."""
    lines: set[str] = set()
    fenced = False
    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif fenced:
            lines.add(line)
    return lines


@pytest.mark.parametrize("name", CORPUS_NAMES)
async def test_every_corpus_chunks_into_exact_lines_without_markup(name: str) -> None:
    if not CORPORA.is_dir():
        pytest.fail(f"the corpora are missing at {CORPORA}")
    outline = TreeSitterOutline()
    files = await read_corpus(CORPORA / name)
    assert files
    chunked = 0
    titles: list[str] = []
    heads: set[str] = set()
    for file in files:
        chunks = chunk_file(file, name, "commit", outline.symbols(file.path, file.text))
        chunked += bool(chunks)
        code = fenced_lines(file.text)
        text = file.text.replace("\r\n", "\n")
        for chunk in chunks:
            where = f"{file.path}:{chunk.start_line}"
            assert cites_exact_lines(chunk, text), where
            assert searchable_text(chunk).strip(), where
            assert len(chunk.text) <= MAX_CHARS or chunk.start_line == chunk.end_line, where
            if file.path.endswith((".md", ".mdx")):
                markup = [line for line in searchable_text(chunk).split("\n") if MARKUP.match(line)]
                assert not set(markup) - code, (where, markup)
        if file.path.endswith(".rst"):
            found = [m["title"] for m in RST_TITLE.finditer(file.text) if len(m["underline"]) >= len(m["title"])]
            assert all(any(title in chunk.text for chunk in chunks) for title in found), file.path
            titles.extend(found)
            heads.update(heading for chunk in chunks for heading in chunk.headings)
    assert chunked >= len(files) * 0.9  # the rest are markup or empty pages
    # A title followed at once by a title of a level up heads no chunk (its section is empty), as in docutils.
    assert sum(title.strip() in heads for title in titles) >= len(titles) * 0.98


CODE_AND_PAGES = {
    "src/router.py": "import re\n\n\nclass Router:\n    def add(self, path):\n        return re.compile(path)\n",
    "web/store.ts": "export interface Item {\n  id: string;\n}\n\nexport function load(): Item[] {\n  return [];\n}\n",
    "docs/start.mdx": (
        '---\ntitle: "Getting started"\n---\n\nimport { Callout } from "@/components";\n\n'
        '<Callout type="info">\n  Install the worker first.\n</Callout>\n'
    ),
}


async def stored_chunks(index: ChromaVectorIndex, repository: str) -> list[Chunk]:
    return await index.chunks("default", repository)


async def test_code_and_mdx_through_embedded_chroma_then_a_new_chunker_re_chunks_them_once(tmp_path: Path) -> None:
    folder = tmp_path / "repo"
    for path, text in CODE_AND_PAGES.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text)
    lock = DataDirLock(tmp_path / "state", "test")
    lock.acquire()
    client = open_embedded_chroma(tmp_path / "state", lock)
    embedder, index, manifests = CountingEmbedder(), ChromaVectorIndex(client), ChromaManifestStore(client)
    indexer = IndexRepository([LocalFolderSource()], embedder, index, manifests, outline=TreeSitterOutline())
    request = IndexRequest(source_spec(str(folder)))
    repository = request.source.repository_id

    first = await indexer.execute(request)

    stored = await stored_chunks(index, repository)
    chunks = {c.path: c for c in stored if c.headings}
    assert first.files_indexed == 3 and len(stored) == 4  # router.py's import is a chunk of its own
    assert chunks["src/router.py"].headings == ("class Router",) and chunks["src/router.py"].start_line == 4
    assert chunks["web/store.ts"].headings == ("interface Item, function load",)
    page = chunks["docs/start.mdx"]
    assert page.headings == ("Getting started",) and (page.start_line, page.end_line) == (8, 8)
    assert page.text == "  Install the worker first."  # it starts and ends on content, not on the tags
    assert "docs/start.mdx: Getting started\n\n  Install the worker first." in embedder.texts

    # What the previous chunker left: its chunk ids, and a manifest that does not say which chunker cut them.
    await index.delete("default", [c.id for c in stored])
    old = [replace(c, id=chunk_id(c.repository, c.path, c.blob_sha, c.ordinal, FIRST_CHUNKER_VERSION)) for c in stored]
    await index.upsert("default", embedder.name, old, await embedder.embed_documents([c.text for c in old]))
    manifest = await manifests.get("default", repository, None)
    assert manifest is not None
    await manifests.save("default", replace(manifest, chunker=""))
    embedder.texts.clear()

    again = await indexer.execute(request)

    assert (again.files_indexed, again.files_unchanged, again.chunks_written, again.chunks_deleted) == (3, 0, 4, 4)
    manifest = await manifests.get("default", repository, None)
    assert manifest is not None and manifest.chunker == CHUNKER_VERSION
    assert {c.id for c in await stored_chunks(index, repository)} == manifest.chunk_ids()
    assert embedder.texts == [] and again.chunks_reused == 4  # the same texts: their stored vectors are copied

    third = await indexer.execute(request)

    assert (third.files_unchanged, third.embedding_calls, third.chunks_written, third.chunks_deleted) == (3, 0, 0, 0)
    lock.release()
