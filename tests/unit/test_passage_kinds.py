"""A passage's kind, read from its path, weighed by what the question asks: a pure policy."""

from __future__ import annotations

import pytest

from domain.answers import SearchHit
from domain.documents import Chunk
from domain.errors import InvalidInput
from domain.passage_kinds import KindWeights, PassageKind, asked_kinds, passage_kind, weigh_kinds
from entrypoints.settings import load_settings


def hit(path: str, score: float) -> SearchHit:
    return SearchHit(Chunk(path, "repo", path, "sha", "", 0, "text", 1, 1), score)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("httpx/_client.py", PassageKind.IMPLEMENTATION),
        ("tree.go", PassageKind.IMPLEMENTATION),
        ("tests/client/test_auth.py", PassageKind.TEST),
        ("mux_test.go", PassageKind.TEST),
        ("src/hooks/useThing.test.tsx", PassageKind.TEST),
        ("src/main/java/RouterTest.java", PassageKind.TEST),
        ("tests/conftest.py", PassageKind.TEST),
        ("_examples/graceful/main.go", PassageKind.EXAMPLE),
        ("examples/README.md", PassageKind.EXAMPLE),
        ("docs/advanced/clients.md", PassageKind.DOCS),
        ("tutorial/testing.md", PassageKind.DOCS),  # a page about testing is a guide, not a test
        ("README", PassageKind.DOCS),
        ("flask/templates/index.html", PassageKind.TEMPLATE),
        ("docs/overrides/partials/nav.html", PassageKind.TEMPLATE),
        ("tests/models/whatwg.json", PassageKind.DATA),
        ("CHANGELOG.md", PassageKind.CHANGES),
        ("docs/release-notes.md", PassageKind.CHANGES),
        ("HISTORY.rst", PassageKind.CHANGES),
        ("blog/2024/04/25/react-19.md", PassageKind.ANNOUNCEMENT),
        ("guide/migration.md", PassageKind.MIGRATION),
        ("how-to/migrate-from-pydantic-v1-to-pydantic-v2.md", PassageKind.MIGRATION),
        ("docs/upgrading.rst", PassageKind.MIGRATION),
        ("docs/changes-in-routing.md", PassageKind.DOCS),
    ],
)
def test_the_kind_of_a_passage_is_read_from_its_path(path: str, kind: PassageKind) -> None:
    assert passage_kind(path) is kind


def test_a_question_asks_for_the_kinds_it_names_and_for_guides_when_it_asks_how_to_use_something() -> None:
    assert asked_kinds("how does the router match a path") == frozenset()
    assert asked_kinds("panic: chi: wildcard '*' must be the last pattern") == frozenset()
    assert {PassageKind.DOCS, PassageKind.EXAMPLE} <= asked_kinds("how do I serve static files")
    assert PassageKind.TEST in asked_kinds("how can my tests return canned responses")
    assert PassageKind.MIGRATION in asked_kinds("upgrading to the newest major version, what breaks?")
    assert PassageKind.CHANGES in asked_kinds("what changed in 2.0")
    assert PassageKind.ANNOUNCEMENT in asked_kinds("where was the new compiler announced")


def test_kinds_not_asked_for_are_weighed_down_but_still_ranked() -> None:
    hits = [hit("tests/test_decoders.py", 0.9), hit("docs/quickstart.md", 0.8), hit("httpx/_decoders.py", 0.7)]

    weighed = weigh_kinds(hits, "how does httpx decode gzip bodies", KindWeights(test=0.5, docs=0.75))

    assert [h.chunk.path for h in weighed] == ["httpx/_decoders.py", "docs/quickstart.md", "tests/test_decoders.py"]
    assert [h.score for h in weighed] == [0.7, pytest.approx(0.6), 0.45]


def test_release_notes_stay_under_guides_when_guides_are_weighed_down() -> None:
    hits = [hit("docs/release-notes.md", 0.9), hit("docs/guide.md", 0.6)]

    for question in ("how do I mount a sub-application", "why does mounting fail with a 404"):
        weighed = weigh_kinds(hits, question, KindWeights(changes=0.5, docs=0.75))
        assert weighed[0].score / weighed[1].score == pytest.approx(0.6 / 0.45)
    asked = weigh_kinds(hits, "what changed in mounting", KindWeights(changes=0.5, docs=0.75))
    assert [h.score for h in asked] == [0.9, pytest.approx(0.45)]


def test_a_kind_the_question_asks_for_keeps_its_score() -> None:
    hits = [hit("tests/test_decoders.py", 0.9), hit("httpx/_decoders.py", 0.7)]

    weighed = weigh_kinds(hits, "is there a test for gzip decoding", KindWeights(test=0.5))

    assert weighed == hits


def test_weights_of_one_change_nothing() -> None:
    hits = [hit("CHANGELOG.md", 0.9), hit("blog/launch.md", 0.8), hit("docs/guide.md", 0.7)]
    neutral = KindWeights(docs=1, example=1, test=1, template=1, data=1, changes=1, announcement=1, migration=1)

    assert weigh_kinds(hits, "routing", neutral) == hits


def test_weights_are_configured_by_kind_and_the_others_keep_their_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().retrieval_policy.kind_weights == KindWeights()
    monkeypatch.setenv("REPOCHAT_KIND_WEIGHTS", "test=1, changes=0.25")

    weights = load_settings().retrieval_policy.kind_weights

    assert weights == KindWeights(test=1.0, changes=0.25)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tests=0.5", r"REPOCHAT_KIND_WEIGHTS: unknown kind 'tests' in 'tests=0.5': the kinds weighed are docs, "),
        ("test=half", r"REPOCHAT_KIND_WEIGHTS: 'test=half': expected test=<a number from 0 to 1>"),
        ("test=2", r"REPOCHAT_KIND_WEIGHTS: 'test=2': a weight is from 0 to 1"),
    ],
)
def test_a_wrong_weight_is_refused_at_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("REPOCHAT_KIND_WEIGHTS", value)
    with pytest.raises(InvalidInput, match=message):
        load_settings()
