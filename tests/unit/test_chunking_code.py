"""Code chunking at symbol boundaries: the domain policy on given symbols, and tree-sitter's outlines.

TreeSitterOutline is a pure in-process parser over grammars inside its wheel, so these tests use the
real one; the last test proves it needs no network.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap

import pytest

from adapters.chunking.tree_sitter_outline import TreeSitterOutline
from domain.chunking import CodeSymbol, chunk_file
from domain.documents import Chunk, SourceFile
from tests.unit.test_chunking import cites_exact_lines

OUTLINE = TreeSitterOutline()


def code_chunks(path: str, text: str, max_chars: int = 1200) -> list[Chunk]:
    file = SourceFile(path, "sha", text)
    return chunk_file(file, "repo", "commit", OUTLINE.symbols(path, text), max_chars=max_chars)


def trails(chunks: list[Chunk]) -> list[tuple[str, ...]]:
    return [c.headings for c in chunks]


MODULE = """import os
import sys


def small_one():
    return 1


def small_two():
    return 2


LIMIT = 3


def big():
    first = 1

    second = 2

    return first + second
"""


def test_small_neighbouring_symbols_share_a_chunk_and_code_between_symbols_has_its_own() -> None:
    symbols = [CodeSymbol("def small_one", 5, 6), CodeSymbol("def small_two", 9, 10), CodeSymbol("def big", 16, 21)]
    chunks = chunk_file(SourceFile("mod.py", "sha", MODULE), "repo", "commit", symbols, max_chars=65)
    assert [(c.start_line, c.end_line, c.headings) for c in chunks] == [
        (1, 2, ()),
        (5, 10, ("def small_one, def small_two",)),
        (13, 13, ()),
        (16, 19, ("def big",)),
        (21, 21, ("def big",)),
    ]
    assert all(cites_exact_lines(c, MODULE) for c in chunks)


def test_overlapping_or_stray_symbols_are_tolerated() -> None:
    symbols = [CodeSymbol("def a", 5, 10), CodeSymbol("def b", 9, 12), CodeSymbol("def c", 30, 40)]
    chunks = chunk_file(SourceFile("mod.py", "sha", MODULE), "repo", "commit", symbols)
    covered = {line for c in chunks for line in range(c.start_line, c.end_line + 1)}
    assert {i + 1 for i, line in enumerate(MODULE.splitlines()) if line.strip()} <= covered
    assert all(cites_exact_lines(c, MODULE) for c in chunks)


SOURCES = {
    "router.py": (
        '''
        """Routing."""
        import re


        class Router:
            """Maps paths to handlers."""

            def add_route(self, path, handler):
                self.routes[path] = handler

            async def dispatch(self, path):
                return await self.routes[path]()


        @cache
        def compile_path(path):
            return re.compile(path)
        ''',
        [("class Router",), ("class Router", "def add_route"), ("class Router", "async def dispatch")],
        ("def compile_path",),
    ),
    "router.js": (
        """
        import { match } from "./match.js";

        export class Router {
          constructor() {
            this.routes = new Map();
          }

          addRoute(path, handler) {
            this.routes.set(path, handler);
          }
        }

        /** Finds the handler of a path. */
        export const dispatch = (router, path) => {
          return router.routes.get(match(path));
        };
        """,
        [("class Router",), ("class Router", "constructor()"), ("class Router", "addRoute()")],
        ("const dispatch",),
    ),
    "router.ts": (
        """
        import type { Handler } from "./handler";

        export interface Route {
          path: string;
          handler: Handler;
        }

        export class Router {
          private routes: Route[] = [];

          addRoute(path: string, handler: Handler): void {
            this.routes.push({ path, handler });
          }
        }

        export function dispatch(router: Router, path: string): Handler | undefined {
          return router.routes.find((r) => r.path === path)?.handler;
        }
        """,
        [("interface Route",), ("class Router",), ("class Router", "addRoute()")],
        ("function dispatch",),
    ),
    "App.tsx": (
        """
        import { useState } from "react";

        export function Counter({ start }: { start: number }) {
          const [count, setCount] = useState(start);
          return <button onClick={() => setCount(count + 1)}>{count}</button>;
        }

        export default function App() {
          return (
            <main className="app">
              <Counter start={0} />
            </main>
          );
        }
        """,
        [("function Counter",)],
        ("function App",),
    ),
    "router.go": (
        """
        package router

        import "strings"

        // Router maps paths to handlers.
        type Router struct {
        \troutes map[string]Handler
        }

        // AddRoute registers a handler.
        func (r *Router) AddRoute(path string, h Handler) {
        \tr.routes[strings.ToLower(path)] = h
        }

        func Dispatch(r *Router, path string) Handler {
        \treturn r.routes[strings.ToLower(path)]
        }
        """,
        [("type Router",), ("func (r *Router) AddRoute",)],
        ("func Dispatch",),
    ),
    "router.rs": (
        """
        use std::collections::HashMap;

        /// Maps paths to handlers.
        #[derive(Default)]
        pub struct Router {
            routes: HashMap<String, Handler>,
        }

        impl Router {
            pub fn add_route(&mut self, path: &str, handler: Handler) {
                self.routes.insert(path.to_string(), handler);
            }
        }

        pub fn dispatch(router: &Router, path: &str) -> Option<&Handler> {
            router.routes.get(path)
        }
        """,
        [("struct Router",), ("impl Router", "fn add_route")],
        ("fn dispatch",),
    ),
    "Router.java": (
        """
        package demo;

        import java.util.HashMap;

        /** Maps paths to handlers. */
        public class Router {
            private final HashMap<String, Handler> routes = new HashMap<>();

            public void addRoute(String path, Handler handler) {
                routes.put(path, handler);
            }

            public Handler dispatch(String path) {
                return routes.get(path);
            }
        }
        """,
        [("class Router",), ("class Router", "addRoute()")],
        ("class Router", "dispatch()"),
    ),
}


@pytest.mark.parametrize("path", sorted(SOURCES))
def test_each_language_is_chunked_at_its_symbols_with_their_names_in_the_trail(path: str) -> None:
    source, nested, last = SOURCES[path]
    text = textwrap.dedent(source).lstrip("\n")
    chunks = code_chunks(path, text, max_chars=100)
    assert all(cites_exact_lines(c, text) for c in chunks)
    assert chunks[0].headings == () and chunks[0].start_line == 1  # the imports
    found = trails(chunks)
    assert all(trail in found for trail in nested), found
    assert chunks[-1].headings == last
    assert all(len(c.text) <= 100 for c in chunks)


def test_doc_comments_decorators_and_exports_belong_to_their_symbol() -> None:
    python = textwrap.dedent(SOURCES["router.py"][0]).lstrip("\n")
    assert code_chunks("router.py", python, 100)[-1].text.startswith("@cache\ndef compile_path")
    rust = textwrap.dedent(SOURCES["router.rs"][0]).lstrip("\n")
    struct = next(c for c in code_chunks("router.rs", rust, 150) if c.headings == ("struct Router",))
    assert struct.text.startswith("/// Maps paths to handlers.\n#[derive(Default)]\npub struct Router {")
    script = textwrap.dedent(SOURCES["router.js"][0]).lstrip("\n")
    dispatch = code_chunks("router.js", script, 150)[-1]
    assert dispatch.text.startswith("/** Finds the handler of a path. */\nexport const dispatch")


def test_an_oversized_symbol_is_split_at_line_boundaries_and_keeps_its_name() -> None:
    body = "\n".join(f"    total += compute_step_number_{i}(total)" for i in range(60))
    text = f"import math\n\n\ndef accumulate(total):\n{body}\n    return total\n"
    chunks = code_chunks("steps.py", text, max_chars=400)
    pieces = [c for c in chunks if c.headings]
    assert len(pieces) > 3
    assert all(c.headings == ("def accumulate",) and len(c.text) <= 400 for c in pieces)
    assert pieces[0].start_line == 4 and pieces[-1].end_line == 65
    assert all(a.end_line + 1 == b.start_line for a, b in itertools.pairwise(pieces))
    assert all(cites_exact_lines(c, text) for c in chunks)


def test_small_files_fit_in_one_chunk_naming_every_symbol() -> None:
    text = textwrap.dedent(SOURCES["router.go"][0]).lstrip("\n")
    chunks = code_chunks("router.go", text)
    assert trails(chunks) == [(), ("type Router, func (r *Router) AddRoute, func Dispatch",)]


def test_text_that_is_not_valid_utf8_keeps_its_line_numbers() -> None:
    text = 'NAME = "\ud800"\n\n\ndef greet():\n    return NAME\n'
    assert OUTLINE.symbols("greet.py", text) == (CodeSymbol("def greet", 4, 5),)


def test_files_of_other_languages_have_no_symbols() -> None:
    assert OUTLINE.symbols("notes.rb", "def hello\n  1\nend\n") == ()
    assert OUTLINE.symbols("Makefile", "all:\n\techo hi\n") == ()


def test_the_grammars_load_with_no_network() -> None:
    """A fresh interpreter whose sockets all fail still parses: no grammar is downloaded."""
    script = textwrap.dedent(
        """
        import socket

        def refuse(*args, **kwargs):
            raise OSError("network is off in this test")

        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse

        from adapters.chunking.tree_sitter_outline import TreeSitterOutline

        outline = TreeSitterOutline()
        for path in ("a.py", "a.js", "a.ts", "a.tsx", "a.go", "a.rs", "A.java"):
            assert outline.symbols(path, "") == (), path
        print(outline.symbols("a.py", "def f():\\n    pass\\n")[0].label)
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "no_proxy": "*"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "def f"
