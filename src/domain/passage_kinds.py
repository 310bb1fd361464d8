"""What kind of file a passage comes from, as evidence weighed by what the question asks.

A question about how something works wants the code that does it or the guide that explains it.
Tests, examples, templates and data files share its words (a test names the function it tests, a
template the field it shows) and so do release notes, announcements and migration guides, which
mention every feature in passing. Each of those kinds has a weight (`KindWeights`) by which a hybrid
score is multiplied, unless the question asks for that kind: "how do I test...", "what changed in
3.0", "upgrading from v1" lift the weight of tests, changelogs and migration guides. A passage of a
demoted kind still ranks when it alone matches.

The kind is read from the path only: the same rules for every repository and language.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from functools import lru_cache

from domain.answers import SearchHit
from domain.errors import InvalidInput


class PassageKind(StrEnum):
    IMPLEMENTATION = "implementation"
    TEST = "test"
    EXAMPLE = "example"
    DOCS = "docs"
    TEMPLATE = "template"
    DATA = "data"
    CHANGES = "changes"
    """Changelogs and release notes."""
    ANNOUNCEMENT = "announcement"
    """Blog posts, news, release announcements."""
    MIGRATION = "migration"
    """Upgrade and migration guides."""


DOC_SUFFIXES = (".md", ".mdx", ".markdown", ".rst", ".txt", ".adoc")
TEMPLATE_SUFFIXES = (".html", ".htm", ".jinja", ".jinja2", ".j2", ".hbs", ".mustache", ".ejs", ".njk", ".liquid")
DATA_SUFFIXES = (".json", ".yaml", ".yml", ".toml", ".lock", ".csv", ".svg", ".xml", ".ini", ".cfg", ".sum")

_CHANGES = re.compile(
    r"(?:^|/)(?:change[-_ ]?log|changes|history|news|release[-_ ]?notes|releases)(?:\.[a-z0-9]+)?$", re.IGNORECASE
)
"""Names of files that record what changed, release after release: CHANGELOG.md, HISTORY.rst, release-notes.md."""
_ANNOUNCEMENT_FOLDERS = frozenset({"blog", "blogs", "posts", "news", "announcements"})
_MIGRATION = re.compile(r"(?:^|[-_ ])(?:migrat|upgrad)", re.IGNORECASE)
_TEST_FOLDERS = frozenset({"test", "tests", "__tests__", "spec", "specs", "testdata", "testing"})
_TEST_FILE = re.compile(r"^(?:test_.+|.+_test|conftest|.+\.(?:test|spec)|.+Tests?)$")
_EXAMPLE_FOLDERS = frozenset({"example", "examples", "_examples", "demo", "demos", "samples", "sample"})
_TEMPLATE_FOLDERS = frozenset({"templates", "template"})


@lru_cache(maxsize=65_536)
def passage_kind(path: str) -> PassageKind:
    """The kind of the file at `path` (relative to the repository's root); remembered, as every search asks it
    of each candidate."""
    folders, _, name = path.rpartition("/")
    parts = set(folders.lower().split("/")) if folders else set()
    stem, dot, suffix = name.rpartition(".")
    stem, suffix = (stem, f".{suffix.lower()}") if dot and stem else (name, "")
    if _CHANGES.search(path):
        return PassageKind.CHANGES
    if suffix in DOC_SUFFIXES or not suffix:
        if parts & _ANNOUNCEMENT_FOLDERS:
            return PassageKind.ANNOUNCEMENT
        if _MIGRATION.search(stem):
            return PassageKind.MIGRATION
        return PassageKind.EXAMPLE if parts & _EXAMPLE_FOLDERS else PassageKind.DOCS
    if suffix in TEMPLATE_SUFFIXES or parts & _TEMPLATE_FOLDERS:
        return PassageKind.TEMPLATE
    if suffix in DATA_SUFFIXES:
        return PassageKind.DATA
    if parts & _TEST_FOLDERS or _TEST_FILE.match(stem):
        return PassageKind.TEST
    if parts & _EXAMPLE_FOLDERS or stem.lower().endswith("_example"):
        return PassageKind.EXAMPLE
    return PassageKind.IMPLEMENTATION


_ASKS = {
    PassageKind.TEST: re.compile(r"\b(?:tests?|testing|tested|unit ?tests?|fixtures?|pytest|mock\w*)\b"),
    PassageKind.EXAMPLE: re.compile(r"\bexamples?\b"),
    PassageKind.TEMPLATE: re.compile(r"\b(?:templates?|html|jinja\w*|markup)\b"),
    PassageKind.DATA: re.compile(r"\b(?:json|yaml|yml|toml|config(?:uration)? files?|schema)\b"),
    PassageKind.CHANGES: re.compile(
        r"\b(?:change ?log|changed|changes|release[sd]?|release notes|what'?s new|new in|since v?\d|versions?|"
        r"v?\d+\.\d+(?:\.\d+)?)\b"
    ),
    PassageKind.ANNOUNCEMENT: re.compile(r"\b(?:blog|announce\w*|news|release[sd]?|what'?s new|new in|launch\w*)\b"),
    PassageKind.MIGRATION: re.compile(
        r"\b(?:migrat\w*|upgrad\w*|breaking|deprecat\w*|from v?\d+(?:\.\d+)* to|major version|backwards?.compat\w*)\b"
    ),
}


_USAGE = re.compile(
    r"\b(?:how (?:do|can|should|would|could) (?:i|we|you)|how to|(?:best|right|recommended|proper) way|examples?|"
    r"tutorials?|guides?|docs|documentation|set ?up|install\w*|configur\w*|i want|i need|can i|should i|"
    r"do i|is it possible)\b"
)
"""A question of how to use something: the guides and examples answer it as well as the code."""


def asked_kinds(question: str) -> frozenset[PassageKind]:
    """The kinds of passage a question asks for: by name ("how do I test", "what changed in 2.0"), and guides
    and examples when it asks how to use something rather than how something works or why it fails."""
    text = question.lower()
    asked = {kind for kind, words in _ASKS.items() if words.search(text)}
    if _USAGE.search(text):
        asked |= {PassageKind.DOCS, PassageKind.EXAMPLE}
    return frozenset(asked)


@dataclass(frozen=True)
class KindWeights:
    """The factor a hybrid score is multiplied by, per kind of passage the question does not ask for (1 = none).

    Measured with benchmarks/retrieval.py (the tuned part of its questions): on code, hit@1 0.707 to 0.840
    with the names field; guides at 0.6 or 0.9 and tests at 0.35 did no better. 0.5 is the changelog
    weight measured before on the documentation sets."""

    docs: float = 0.75
    example: float = 0.75
    """Guides and examples, when the question asks how something works or why it fails, not how to use it."""
    test: float = 0.5
    template: float = 0.5
    data: float = 0.5
    changes: float = 0.5
    announcement: float = 0.5
    migration: float = 0.5

    def of(self, kind: PassageKind) -> float:
        return float(getattr(self, kind.value, 1.0))

    @classmethod
    def parse(cls, text: str) -> KindWeights:
        """`test=0.5,docs=1`: the weights named, the defaults for the others; InvalidInput naming what is wrong."""
        names = [f.name for f in fields(cls)]
        weights: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, _, value = (piece.strip() for piece in item.partition("="))
            if name not in names:
                raise InvalidInput(f"unknown kind {name!r} in {item!r}: the kinds weighed are {', '.join(names)}")
            try:
                weights[name] = float(value)
            except ValueError:
                raise InvalidInput(f"{item!r}: expected {name}=<a number from 0 to 1>") from None
            if not 0 <= weights[name] <= 1:
                raise InvalidInput(f"{item!r}: a weight is from 0 to 1 (1: no prior)")
        return cls(**weights)


PROSE = frozenset({PassageKind.CHANGES, PassageKind.ANNOUNCEMENT, PassageKind.MIGRATION})
"""Pages too: when guides are weighed down (a question about how code works), these are as well, so they
stay as far under the guides as they are for any other question."""


def weigh_kinds(hits: Sequence[SearchHit], question: str, weights: KindWeights) -> list[SearchHit]:
    """The hits re-ordered after multiplying each one's score by its kind's weight, for the kinds not asked for."""
    asked = asked_kinds(question)
    weighted = []
    for hit in hits:
        kind = passage_kind(hit.chunk.path)
        weight = 1.0 if kind in asked else weights.of(kind)
        if kind in PROSE and not asked & {kind, PassageKind.DOCS}:
            weight *= weights.docs
        weighted.append(hit if weight == 1 else replace(hit, score=hit.score * weight))
    return sorted(weighted, key=lambda hit: -hit.score)
