"""What the MCP tools answer: Markdown for a model to read, cut to a token budget.

Tokens are estimated as characters / 4, the usual rule of thumb for English and code; a
budget is a ceiling, so the estimate errs on the generous side of the text's real length.
Every passage carries its commit permalink, so an agent can cite or widen it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from application.answering import GeneratedAnswer
from application.reading import FileExcerpt
from application.repositories import IndexedRepository, RepositoryMatch
from domain.answers import Citation, cited_sources
from domain.citation_check import flag_of, invented_lines
from domain.jobs import Job

CHARS_PER_TOKEN = 4
DEFAULT_TOKEN_BUDGET = 5000
MIN_TOKEN_BUDGET = 200
MAX_TOKEN_BUDGET = 50_000


def fenced(text: str) -> str:
    """A code fence longer than any backtick run inside `text`, so indexed content cannot close it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = max(3, longest + 1)
    return f"{'`' * fence}\n{text}\n{'`' * fence}"


def within_budget(blocks: Sequence[str], budget: int, more: str) -> str:
    """Whole blocks while they fit; the first block is cut to fit, and `more` says what was left out."""
    chars = budget * CHARS_PER_TOKEN
    reserve = len(more) + 16  # room for `more`, with {left} filled in
    kept: list[str] = []
    used = 0
    for number, block in enumerate(blocks, start=1):
        room = chars - used - (0 if number == len(blocks) else reserve)
        if len(block) > room:
            if not kept:
                kept.append(block[: max(0, chars - reserve - 4)] + "\n…")
            if len(blocks) > len(kept):
                kept.append(more.format(left=len(blocks) - len(kept)))
            break
        kept.append(block)
        used += len(block) + 2
    return "\n\n".join(kept)


def passages(citations: Sequence[Citation], budget: int) -> str:
    if not citations:
        return "No indexed passage matches. Try other words, or `resolve_repository` to check what is indexed."
    blocks = [
        f"### [{n}] {c.repository}: `{c.path}` lines {c.start_line}-{c.end_line} (score {c.score:.3f})\n"
        f"{c.url}\n\n{fenced(c.text)}"
        for n, c in enumerate(citations, start=1)
    ]
    return within_budget(blocks, budget, "({left} more passages left out to stay within max_tokens.)")


def excerpt(found: FileExcerpt, budget: int) -> str:
    header = (
        f"`{found.path}` lines {found.start_line}-{found.end_line} of {found.total_lines}, "
        f"{found.repository} at commit {found.commit[:12]}\n{found.url}\n\n"
    )
    lines = found.text.split("\n")
    chars = budget * CHARS_PER_TOKEN - len(header) - 200
    kept: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) + 1 > chars and kept:
            break
        kept.append(line)
        used += len(line) + 1
    body = fenced("\n".join(kept))
    if len(kept) < len(lines):
        last = found.start_line + len(kept) - 1
        return (
            f"{header}{body}\n\n(Cut at line {last} to stay within max_tokens: "
            f"call read_file with start_line={last + 1} for more.)"
        )
    return header + body


def answer(found: GeneratedAnswer, budget: int) -> str:
    """The answer, then the sources it cites (all found, when it marks none), each unsupported one saying
    why, and the markers naming no passage; an abstained answer lists the weak passages it would not
    answer from apart, so none passes for a source."""
    label = (
        ""
        if found.generated or found.abstained
        else "_Extractive answer: no language model is configured, so these are the best passages, quoted._\n\n"
    )
    if found.abstained:
        heading, listed = "**Closest passages, too weak to answer from**", list(enumerate(found.citations, start=1))
    else:
        heading, listed = "**Sources**", cited_sources(found.citations)
    lines = [
        f"[{n}] {c.repository}: `{c.path}` lines {c.start_line}-{c.end_line}: {c.url}{flag_of(c)}" for n, c in listed
    ]
    sources = "\n".join(lines + invented_lines(found.citation_check))
    text = f"{label}{found.text}"
    if sources:
        text += f"\n\n{heading}\n{sources}"
    return within_budget([text], budget, "")


def repositories(entries: Sequence[IndexedRepository]) -> str:
    """One row per indexed ref; `searched by default` says which ref a search naming none reads."""
    if not entries:
        return "Nothing is indexed yet: call `index_repository` with a GitHub repository such as `owner/repo`."
    rows = [
        f"| `{e.manifest.repository}` | {e.collection} | {_ref(e.manifest.ref)} | {e.manifest.commit[:12]} | "
        f"{'yes' if e.searched_by_default else 'no'} | {len(e.manifest.files)} | {e.manifest.indexed_at} | "
        f"{_last_sync(e)} | {e.next_sync_at or '-'} | {e.manifest.web_url} |"
        for e in entries
    ]
    head = (
        "| repository | collection | ref | commit | searched by default | files | indexed at | last sync | "
        "next sync | web |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    note = "Pass a `ref` to search_docs, ask or read_file to use a ref not searched by default."
    return "\n".join([head, *rows, "", note])


def _ref(ref: str | None) -> str:
    """A ref as a table cell (git allows `|` in ref names)."""
    return ref.replace("|", "\\|") if ref is not None else "default branch"


def _last_sync(entry: IndexedRepository) -> str:
    """The last sync's result and time, with its error; `-` when none was made."""
    sync = entry.sync
    if sync is None or sync.last_result is None:
        return "syncing now" if sync is not None and sync.pending_job_id else "-"
    text = f"{sync.last_result.value} at {sync.last_sync_at}"
    if sync.last_error:
        text += f" ({sync.consecutive_failures} failed in a row: {sync.last_error})"
    if sync.pending_job_id:
        text += "; syncing now"
    return text.replace("|", "\\|").replace("\n", " ")


def matches(found: Sequence[RepositoryMatch], name: str) -> str:
    if not found:
        return f"No indexed repository matches {name!r}. `list_repositories` shows what is indexed."
    lines = [
        f"{n}. `{m.entry.manifest.repository}` (collection {m.entry.collection}, refs {_refs(m)}; searched by "
        f"default: {_ref(m.entry.manifest.ref)} at commit {m.entry.manifest.commit[:12]}, "
        f"{len(m.entry.manifest.files)} files; match {m.score:.2f})"
        for n, m in enumerate(found, start=1)
    ]
    return (
        "Best first; pass the repository id to `search_docs`, `read_file` or `ask` "
        "(and a `ref` for another ref than the one searched by default):\n" + "\n".join(lines)
    )


def _refs(match: RepositoryMatch) -> str:
    return ", ".join(_ref(ref) for ref in match.refs)


def job(found: Job) -> str:
    p = found.progress
    lines = [
        f"Job `{found.id}` for `{found.repository}` (collection {found.request.collection}): **{found.state.value}**",
        f"stage: {found.stage}; files {p.files_done}/{p.files_total}; chunks written {p.chunks_written}",
    ]
    if found.result is not None:
        r = found.result
        lines.append(
            f"result: {r.files_indexed} files indexed, {r.files_unchanged} unchanged, {r.files_deleted} deleted, "
            f"{r.files_skipped} skipped; {r.chunks_written} chunks written at commit {r.commit[:12]}"
        )
    if found.error:
        lines.append(f"error: {found.error}")
    if not found.state.finished:
        lines.append("Call `job_status` again to follow it.")
    return "\n".join(lines)
