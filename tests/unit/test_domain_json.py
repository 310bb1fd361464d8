"""The JSON forms of domain objects: exact round trips, and records written before them still read."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from adapters.domain_json import INDEX_REQUEST, INDEX_RESULT, MANIFEST, PROGRESS
from domain.documents import Manifest, SkipCounts
from domain.jobs import IndexRequest, IndexResult, Progress
from domain.sources import SourceKind, SourceSpec

REQUEST = IndexRequest(
    SourceSpec(SourceKind.GITHUB, "owner/repo", "v1.2", "docs", ("**/*.md",), ("drafts/**",)), "team-docs"
)
RESULT = IndexResult(3, 4, 1, 2, 30, 5, 2, "c0ffee", SkipCounts(binary=1, filtered=1))
MANIFEST_VALUE = Manifest(
    repository="owner/repo",
    source="github:owner/repo",
    commit="c0ffee",
    files={"a.md": "sha-a", "b.md": "sha-b"},
    chunk_counts={"a.md": 2, "b.md": 0},
    indexed_at="2026-12-01T10:00:00+00:00",
    ref="main",
    etag='W/"abc"',
    web_url="https://github.com/owner/repo",
    include=("**/*.md",),
    exclude=(),
)


def test_round_trips_are_exact() -> None:
    assert INDEX_REQUEST.loads(INDEX_REQUEST.dumps(REQUEST)) == REQUEST
    assert INDEX_RESULT.loads(INDEX_RESULT.dumps(RESULT)) == RESULT
    assert PROGRESS.from_data(PROGRESS.to_data(Progress(9, 4, 12))) == Progress(9, 4, 12)
    assert MANIFEST.loads(MANIFEST.dumps(MANIFEST_VALUE)) == MANIFEST_VALUE


def test_the_request_keeps_the_shape_job_records_and_task_inputs_were_written_in() -> None:
    """Job records in SQLite and Hatchet runs made by earlier builds hold exactly this shape."""
    earlier = {
        "source": {
            "kind": "github",
            "location": "owner/repo",
            "ref": "v1.2",
            "subdir": "docs",
            "include": ["**/*.md"],
            "exclude": ["drafts/**"],
        },
        "collection": "team-docs",
    }
    assert INDEX_REQUEST.to_data(REQUEST) == earlier
    assert INDEX_REQUEST.from_data(earlier) == REQUEST


def test_a_manifest_saved_before_the_forms_existed_still_loads() -> None:
    earlier = json.dumps(
        {
            "repository": "owner/repo",
            "source": "github:owner/repo",
            "commit": "c0ffee",
            "files": {"a.md": "sha-a", "b.md": "sha-b"},
            "chunk_counts": {"a.md": 2, "b.md": 0},
            "indexed_at": "2026-12-01T10:00:00+00:00",
            "ref": "main",
            "etag": 'W/"abc"',
            "web_url": "https://github.com/owner/repo",
            "include": ["**/*.md"],
            "exclude": [],
        }
    )
    loaded = MANIFEST.loads(earlier)
    assert loaded == MANIFEST_VALUE and loaded.is_live("a.md", "sha-a") and loaded.chunk_total == 2


def test_a_result_names_its_skip_reasons() -> None:
    data = INDEX_RESULT.to_data(RESULT)
    assert data["skipped"] == {"binary": 1, "too_large": 0, "unsafe": 0, "filtered": 1, "bad_name": 0}
    assert data["commit"] == "c0ffee" and data["files_skipped"] == 2


def test_a_malformed_record_is_refused_not_guessed() -> None:
    with pytest.raises(ValidationError):
        INDEX_REQUEST.from_data({"source": {"kind": "svn", "location": "x"}, "collection": "c"})
    with pytest.raises(ValidationError):
        PROGRESS.loads('{"files_total": "many"}')
