"""JSON shapes of index requests and jobs, shared by the job queue adapters."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from domain.documents import SkipCounts
from domain.jobs import IndexRequest, IndexResult, Progress
from domain.sources import SourceKind, SourceSpec


def request_to_json(request: IndexRequest) -> dict[str, Any]:
    spec = request.source
    return {
        "source": {
            "kind": spec.kind.value,
            "location": spec.location,
            "ref": spec.ref,
            "subdir": spec.subdir,
            "include": list(spec.include),
            "exclude": list(spec.exclude),
        },
        "collection": request.collection,
    }


def request_from_json(data: dict[str, Any]) -> IndexRequest:
    s = data["source"]
    spec = SourceSpec(
        SourceKind(s["kind"]), s["location"], s.get("ref"), s.get("subdir"), tuple(s["include"]), tuple(s["exclude"])
    )
    return IndexRequest(spec, data["collection"])


def progress_to_json(progress: Progress) -> dict[str, int]:
    return asdict(progress)


def progress_from_json(data: dict[str, Any] | None) -> Progress:
    return Progress(**data) if data else Progress()


def result_to_json(result: IndexResult) -> dict[str, Any]:
    return asdict(result)


def result_from_json(data: dict[str, Any] | None) -> IndexResult | None:
    if not data:
        return None
    return IndexResult(**{**data, "skipped": SkipCounts(**data.get("skipped", {}))})
