"""A question that names a symbol in code form weighs up the passage that defines it: a pure policy."""

from __future__ import annotations

import pytest

from domain.answers import SearchHit
from domain.documents import Chunk
from domain.named_symbols import defined_symbols, named_symbols, weigh_named_symbols


def passage(path: str, *headings: str) -> Chunk:
    return Chunk(f"{path}:{headings}", "repo", path, "sha", "", 0, "text", 1, 1, headings)


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("how does RoutePattern build the full pattern", {"RoutePattern"}),
        ("what happens if I call r.Use after routes", {"Use"}),
        ("why does raise_for_status fail on a 3xx", {"raise_for_status"}),
        ("what does send() do with a closed stream", {"send"}),
        ("is `Client` safe to share between threads", {"Client"}),
        ("httpx.HTTPStatusError: Client error '404 Not Found'", {"HTTPStatusError"}),
        ("How do I add a Router to my app? What is CORS", set()),  # capitalised words of prose, an acronym
        ("where is the __init__ of the pool", {"__init__"}),
    ],
)
def test_a_question_names_the_identifiers_it_writes_as_code(question: str, names: set[str]) -> None:
    assert named_symbols(question) == names


@pytest.mark.parametrize(
    ("chunk", "names"),
    [
        (passage("tree.go", "func (n *node) findRoute"), {"findRoute"}),
        (passage("chi.go", "type Routes, type Middlewares"), {"Routes", "Middlewares"}),
        (
            passage("httpx/_client.py", "class Client", "def send, async def _send_single_request"),
            {"send", "_send_single_request"},
        ),
        (passage("src/app.ts", "class App", "render()"), {"render"}),
        (passage("src/lib.rs", "impl Drop for Pool"), {"Pool"}),
        (passage("src/macros.rs", "macro_rules! vec"), {"vec"}),
        (passage("docs/guide.md", "Using Client"), set()),  # a page's heading titles it, it defines nothing
        (passage("httpx/_api.py"), set()),  # code outside any symbol
    ],
)
def test_a_code_passage_defines_the_symbols_its_innermost_label_names(chunk: Chunk, names: set[str]) -> None:
    assert defined_symbols(chunk) == names


def test_the_passage_defining_a_named_symbol_is_weighed_up_and_the_rest_keep_their_order() -> None:
    prose = SearchHit(passage("docs/routing.md", "Routing patterns"), 0.30)
    caller = SearchHit(passage("mux.go", "func (mx *Mux) Mount"), 0.28)
    definition = SearchHit(passage("context.go", "func (x *Context) RoutePattern"), 0.25)
    hits = [prose, caller, definition]

    ranked = weigh_named_symbols(hits, "how does RoutePattern join the mounted patterns", 1.5)

    assert [hit.chunk.path for hit in ranked] == ["context.go", "docs/routing.md", "mux.go"]
    assert ranked[0].score == pytest.approx(0.375)
    assert weigh_named_symbols(hits, "how are mounted patterns joined", 1.5) == hits
