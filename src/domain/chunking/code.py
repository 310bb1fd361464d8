"""Source code: chunks at symbol boundaries, from the symbols a parser found (`CodeSymbol`s).

- A symbol (function, class, method...) that fits the limit is one chunk, its label in the trail
  under its parents' (`("class Router", "def add_route")`).
- Small symbols next to each other, under the same parent, share a chunk; its trail names them
  all (`("class Router", "def get, def post")`).
- A symbol too large for one chunk is cut at its nested symbols when it has some (its own lines
  between them form chunks under its label), else packed from its blank-line blocks, cut at line
  boundaries as a last resort; every piece keeps the symbol in its trail.
- Code outside any symbol (imports, module docstrings, constants) forms chunks of its own, but
  lines of brackets only (the `}` closing a class cut at its methods) join the chunk before them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.chunking.spans import Layout, Span, blank_line_blocks, has_text, pack, size


@dataclass(frozen=True)
class CodeSymbol:
    """A definition in a source file, as a parser found it: lines start_line..end_line (1-based, inclusive)."""

    label: str
    """How the trail names it, in its language's words: `def add_route`, `func (r *Router) Add`, `impl Drop for T`."""
    start_line: int
    end_line: int
    children: tuple[CodeSymbol, ...] = ()
    """Symbols defined inside it: methods of a class, functions of an impl block or a module."""


@dataclass(frozen=True)
class _Unit:
    span: Span
    whole_symbol: bool
    """A complete symbol that fit the limit: it may be packed with whole siblings."""


def code_layout(lines: Sequence[str], symbols: Sequence[CodeSymbol], max_chars: int) -> Layout:
    units = _units(lines, symbols, 0, len(lines), (), max_chars)
    return Layout(_pack_siblings(lines, units, max_chars))


def _units(
    lines: Sequence[str], symbols: Sequence[CodeSymbol], start: int, end: int, trail: tuple[str, ...], max_chars: int
) -> list[_Unit]:
    units: list[_Unit] = []
    cursor = start
    for symbol in _in_order(symbols, start, end):
        first, last = symbol.start_line - 1, symbol.end_line
        units.extend(_between(lines, cursor, first, trail, max_chars))
        own = (*trail, symbol.label)
        if size(lines, first, last) <= max_chars:
            units.append(_Unit(Span(first, last, own), whole_symbol=True))
        elif symbol.children:
            units.extend(_units(lines, symbol.children, first, last, own, max_chars))
        else:
            units.extend(_between(lines, first, last, own, max_chars))
        cursor = last
    units.extend(_between(lines, cursor, end, trail, max_chars))
    return units


def _in_order(symbols: Sequence[CodeSymbol], start: int, end: int) -> list[CodeSymbol]:
    """The symbols within lines [start, end), sorted; one that overlaps an earlier one is left to it."""
    kept: list[CodeSymbol] = []
    cursor = start
    for symbol in sorted(symbols, key=lambda s: (s.start_line, -s.end_line)):
        if symbol.start_line - 1 < cursor or symbol.end_line > end or symbol.end_line < symbol.start_line:
            continue
        kept.append(symbol)
        cursor = symbol.end_line
    return kept


def _between(lines: Sequence[str], start: int, end: int, trail: tuple[str, ...], max_chars: int) -> list[_Unit]:
    if not has_text(lines, start, end):
        return []
    spans = pack(lines, blank_line_blocks(lines, start, end), max_chars, trail)
    return [_Unit(span, whole_symbol=False) for span in spans]


def _pack_siblings(lines: Sequence[str], units: Sequence[_Unit], max_chars: int) -> list[Span]:
    spans: list[Span] = []
    group: list[Span] = []

    def close() -> None:
        if group:
            labels = ", ".join(span.headings[-1] for span in group)
            spans.append(Span(group[0].start, group[-1].end, (*group[0].headings[:-1], labels)))
            group.clear()

    for unit in units:
        span = unit.span
        if not unit.whole_symbol:
            close()
            if spans and _only_punctuation(lines, span) and size(lines, spans[-1].start, span.end) <= max_chars:
                spans[-1] = Span(spans[-1].start, span.end, spans[-1].headings)  # a closing `}` joins what it closes
            else:
                spans.append(span)
            continue
        if group and (
            group[0].headings[:-1] != span.headings[:-1] or size(lines, group[0].start, span.end) > max_chars
        ):
            close()
        group.append(span)
    close()
    return spans


def _only_punctuation(lines: Sequence[str], span: Span) -> bool:
    return not any(char.isalnum() for line in lines[span.start : span.end] for char in line)
