"""The JSON shapes users see, shared by the HTTP API and the CLI's --json output."""

from __future__ import annotations

from typing import Any

from application.repositories import IndexedRepository
from domain.answers import Answer, Citation
from domain.jobs import Job


def job_view(job: Job) -> dict[str, Any]:
    result = job.result
    return {
        "id": job.id,
        "repository": job.repository,
        "collection": job.request.collection,
        "state": job.state.value,
        "stage": job.stage,
        "progress": {
            "files_total": job.progress.files_total,
            "files_done": job.progress.files_done,
            "chunks_written": job.progress.chunks_written,
        },
        "result": None
        if result is None
        else {
            "files_indexed": result.files_indexed,
            "files_unchanged": result.files_unchanged,
            "files_deleted": result.files_deleted,
            "files_skipped": result.files_skipped,
            "chunks_written": result.chunks_written,
            "chunks_deleted": result.chunks_deleted,
            "embedding_calls": result.embedding_calls,
            "commit": result.commit,
            "skipped": {
                "binary": result.skipped.binary,
                "too_large": result.skipped.too_large,
                "unsafe": result.skipped.unsafe,
                "filtered": result.skipped.filtered,
            },
        },
        "error": job.error,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }


def citation_view(citation: Citation) -> dict[str, Any]:
    return {
        "text": citation.text,
        "path": citation.path,
        "repository": citation.repository,
        "commit": citation.commit,
        "start_line": citation.start_line,
        "end_line": citation.end_line,
        "url": citation.url,
        "score": round(citation.score, 4),
    }


def answer_view(answer: Answer) -> dict[str, Any]:
    return {
        "answer": answer.text,
        "generated": answer.generated,
        "citations": [citation_view(c) for c in answer.citations],
    }


def repository_view(entry: IndexedRepository) -> dict[str, Any]:
    m = entry.manifest
    return {
        "id": m.repository,
        "collection": entry.collection,
        "source": m.source,
        "ref": m.ref,
        "commit": m.commit,
        "files": len(m.files),
        "chunks": m.chunk_total,
        "indexed_at": m.indexed_at,
        "web_url": m.web_url,
    }
