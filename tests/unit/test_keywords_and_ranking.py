"""Keyword terms, reciprocal rank fusion and the per-file cap: pure policies."""

from __future__ import annotations

from domain.answers import SearchHit
from domain.documents import Chunk
from domain.keywords import keyword_terms, name_terms
from domain.ranking import limit_per_file, reciprocal_rank_fusion


def hit(chunk_id: str, path: str = "a.md", score: float = 0.0, **scores: float) -> SearchHit:
    chunk = Chunk(chunk_id, "repo", path, "sha", "", 0, chunk_id, 1, 1)
    return SearchHit(chunk, score, scores.get("similarity"), scores.get("keyword_score"))


def test_identifiers_yield_themselves_whole_and_their_parts() -> None:
    assert keyword_terms("model_validator") == ["model_validator", "model", "validator"]
    assert keyword_terms("useEffect") == ["useeffect", "use", "effect"]
    assert keyword_terms("HTTPException") == ["httpexception", "http", "exception"]
    assert keyword_terms("pathlib.Path.glob") == ["pathlib.path.glob", "pathlib", "path", "glob"]
    assert keyword_terms("UV_INDEX_URL") == ["uv_index_url", "uv", "index", "url"]
    assert keyword_terms("--reload") == ["--reload", "reload"]
    assert keyword_terms("docs/tutorial/first-steps.md")[:3] == ["docs/tutorial/first-steps.md", "doc", "tutorial"]


def test_words_are_lower_cased_stemmed_lightly_and_stop_words_dropped() -> None:
    assert keyword_terms("How do I declare optional Query Parameters?") == ["declare", "optional", "query", "parameter"]
    assert keyword_terms("running indexed queries") == ["run", "index", "query"]
    assert keyword_terms("class status process") == ["class", "status", "process"]
    assert keyword_terms("the of and") == []


def test_an_identifier_in_a_question_matches_the_same_identifier_in_code() -> None:
    question = set(keyword_terms("what does @model_validator(mode='after') do?"))
    code = set(keyword_terms('    @model_validator(mode="after")\n    def check(self) -> Self:'))
    assert {"model_validator", "model", "validator", "mode"} <= question & code


def test_rank_fusion_rewards_agreement_and_keeps_both_legs_scores() -> None:
    dense = [hit("a", similarity=0.9), hit("b", similarity=0.8), hit("c", similarity=0.7)]
    keyword = [hit("c", keyword_score=12.0), hit("d", keyword_score=9.0)]

    fused = reciprocal_rank_fusion([dense, keyword], [1.0, 1.0], k=60)

    assert [h.chunk.id for h in fused] == ["c", "a", "b", "d"]  # c: 1/63 + 1/61 beats a: 1/61; b, d tie at 1/62
    assert fused[0].score == 1 / 63 + 1 / 61
    assert (fused[0].similarity, fused[0].keyword_score) == (0.7, 12.0)
    assert fused[3].similarity is None and fused[3].keyword_score == 9.0


def test_rank_fusion_weights_legs() -> None:
    dense, keyword = [hit("a")], [hit("b")]
    assert [h.chunk.id for h in reciprocal_rank_fusion([dense, keyword], [1.0, 2.0])] == ["b", "a"]
    assert [h.chunk.id for h in reciprocal_rank_fusion([dense, keyword], [1.0, 0.5])] == ["a", "b"]


def test_at_most_n_hits_per_file_unless_too_few_files() -> None:
    hits = [hit("a1", "a.md"), hit("a2", "a.md"), hit("a3", "a.md"), hit("b1", "b.md"), hit("c1", "c.md")]

    assert [h.chunk.id for h in limit_per_file(hits, 2, 4)] == ["a1", "a2", "b1", "c1"]
    assert [h.chunk.id for h in limit_per_file(hits, 1, 3)] == ["a1", "b1", "c1"]
    assert [h.chunk.id for h in limit_per_file(hits, 1, 4)] == ["a1", "a2", "b1", "c1"]  # filled back, in rank order
    assert [h.chunk.id for h in limit_per_file(hits, 0, 3)] == ["a1", "a2", "a3"]


def test_fusing_files_too_lifts_a_page_both_legs_find_through_different_passages() -> None:
    dense = [hit("c1", "c.md"), hit("z1", "z.md")]
    keyword = [hit("z2", "z.md"), hit("d1", "d.md")]

    by_chunk = reciprocal_rank_fusion([dense, keyword], [1.0, 1.0])
    by_file = reciprocal_rank_fusion([dense, keyword], [1.0, 1.0], by_file=True)

    assert [h.chunk.id for h in by_chunk][:2] == ["c1", "z2"]  # a tie at 1/61, broken by id
    assert [h.chunk.id for h in by_file] == ["z2", "z1", "c1", "d1"]
    assert by_file[0].score == 1 / 61 + (1 / 62 + 1 / 61)  # its own rank, plus its file's in both legs


def test_a_passage_is_named_by_its_file_and_its_trail_without_the_languages_keywords() -> None:
    assert name_terms("mux.go", ("type Mux", "func (mx *Mux) Mount")) == ["mux", "mux", "mx", "mux", "mount"]
    assert name_terms("httpx/_client.py", ("class Client", "def _merge_url")) == [
        "client", "client", "_merge_url", "merge", "url",
    ]  # fmt: skip
    assert name_terms("_examples/graceful/main.go", ("func main",)) == ["main", "graceful", "main"]
    assert name_terms("guide/index.md", ("Guide", "Install")) == []  # a page's headings are lines of its text
