"""Checking a generated answer's citations against the passages they cite.

The answer is cut into sentences (fenced code blocks are not sentences; a list item or a line is
one at least). For each sentence with `[n]` markers, what it states in a form that can be looked
up is read out of it, and looked up in the passages it cites:

- identifiers: backticked text (its code-like tokens), snake_case, camelCase and PascalCase with an
  inner capital, dotted names (`app.get`, `config.yaml`), `--flags`, CONSTANTS with an underscore or
  a digit (`MAX_SIZE`; a plain acronym such as API or JSON is a word, not an identifier), words mixing
  letters and digits (`sha256`). Plain words are never looked up, so a plural or an inflection is not
  an identifier; an identifier not found is looked up once more without a plural `s`;
- numbers of two digits or more, and decimals (`8000`, `3.11`); a single digit is as often written
  as a word, so it is not looked up;
- paths and URLs (`docs/index.md`, `/etc/app.toml`, `https://...`): found in the passage's text, or
  naming the passage's own file;
- quoted strings ("..." and “...”).

All are matched case-insensitively, whitespace collapsed, on word boundaries (`get` is not found in
`get_user`): a citation is misplaced when the passage lacks the name, rarely because of its case.

A sentence citing one passage is supported when that passage holds everything it states. A sentence
citing several is supported when each thing it states is in one of them and each of them holds one
thing at least (facts spread over the passages it cites). Where the dense model is available, the
sentence must also be close enough to each passage it cites (cosine similarity at or over a
threshold measured per model). A marker naming no passage of the answer (`[9]` with 3) is
unsupported. A passage cited by several sentences is supported when every sentence citing it is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from domain.answers import CODE_SPANS, MARKER_CHAINS, Citation
from domain.claims import Claim, Passage, claims, collapsed, holds

NUMBERS_IN_A_CHAIN = re.compile(r"\d+")


class UnsupportedCitations(StrEnum):
    """What an answer does with the citations the check finds unsupported (REPOCHAT_UNSUPPORTED_CITATIONS)."""

    FLAG = "flag"
    """Keep them, marked `supported: false` with the reason."""
    DROP = "drop"
    """Remove their markers from the sentences they do not support; the passage stays in the list
    at its number (so every other `[n]` still names the n-th), marked not used."""


@dataclass(frozen=True)
class CitedSentence:
    text: str
    """The sentence as written, without its markers."""
    numbers: tuple[int, ...]
    """The numbers its markers name, in order, once each (out-of-range ones too)."""
    piece: int
    """Which piece of the answer it is (see `_pieces`), to take markers out of it."""


@dataclass(frozen=True)
class Verdict:
    number: int
    supported: bool
    reason: str


@dataclass(frozen=True)
class SentenceCheck:
    sentence: CitedSentence
    verdicts: tuple[Verdict, ...]

    @property
    def unsupported(self) -> frozenset[int]:
        return frozenset(v.number for v in self.verdicts if not v.supported)


@dataclass(frozen=True)
class CheckSummary:
    cited: int
    """Distinct numbers the answer's markers name, invented ones included."""
    supported: int
    unsupported: int
    invented: tuple[int, ...]
    """Numbers named by markers that are no passage of the answer."""


NOT_CHECKED = CheckSummary(0, 0, 0, ())
"""The summary of an answer with nothing to check: abstained, or no citation."""


@dataclass(frozen=True)
class CitationCheck:
    sentences: tuple[SentenceCheck, ...]
    passages: int

    def verdict(self, number: int, kept: bool = False) -> Verdict | None:
        """The passage's verdict over every sentence citing it: its first unsupported one, else its first
        one. `kept`: over the markers `drop` keeps, its first supported one, else its first one."""
        verdicts = [v for s in self.sentences for v in s.verdicts if v.number == number]
        first = verdicts[0] if verdicts else None
        return next((v for v in verdicts if v.supported is kept), first)

    @property
    def summary(self) -> CheckSummary:
        numbers = sorted({v.number for s in self.sentences for v in s.verdicts})
        unsupported = [n for n in numbers if not _supported(self.verdict(n))]
        invented = tuple(n for n in numbers if not 1 <= n <= self.passages)
        return CheckSummary(len(numbers), len(numbers) - len(unsupported), len(unsupported), invented)


def _supported(verdict: Verdict | None) -> bool:
    return verdict is not None and verdict.supported


# -- sentences

_FENCED = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)
_SENTENCE_END = re.compile(
    r"[.!?][\"')\]]*(?:[ \t]*(?:\[\s*\d+(?:\s*,\s*\d+)*\s*\])+)?[ \t]+(?=[^\sa-z\[])|\n+",
)
"""Where a sentence ends: after . ! or ? (and the markers that follow it) before a space and no
lowercase letter (so `e.g. this` stays whole), or at a line break."""


def _pieces(text: str) -> list[tuple[str, bool]]:
    """The answer cut into pieces that join back into it exactly: (piece, is prose) — fenced code
    blocks are pieces of their own, not prose."""
    pieces: list[tuple[str, bool]] = []
    at = 0
    for block in _FENCED.finditer(text):
        pieces.extend(_sentences(text[at : block.start()]))
        pieces.append((block.group(), False))
        at = block.end()
    pieces.extend(_sentences(text[at:]))
    return pieces


_ABBREVIATED = re.compile(r"(?:\be\.g|\bi\.e|\betc|\bvs|\bcf)\.$", re.IGNORECASE)


def _sentences(prose: str) -> list[tuple[str, bool]]:
    cut, at = [], 0
    for end in _SENTENCE_END.finditer(prose):
        if _ABBREVIATED.search(prose, 0, end.start() + 1):
            continue
        cut.append((prose[at : end.end()], True))
        at = end.end()
    if at < len(prose):
        cut.append((prose[at:], True))
    return cut


def _masked(piece: str) -> str:
    """The piece with its code spans blanked (same length), so brackets in code are no markers."""
    return CODE_SPANS.sub(lambda span: " " * len(span.group()), piece)


def cited_sentences(text: str) -> list[CitedSentence]:
    """The sentences of the answer's prose that carry markers, in order."""
    found = []
    for index, (piece, prose) in enumerate(_pieces(text)):
        if not prose:
            continue
        chains = list(MARKER_CHAINS.finditer(_masked(piece)))
        numbers = [int(n) for chain in chains for n in NUMBERS_IN_A_CHAIN.findall(chain.group())]
        if numbers:
            without = "".join(piece[a:b] for a, b in _between(chains, len(piece))).strip()
            found.append(CitedSentence(without, tuple(dict.fromkeys(numbers)), index))
    return found


def _between(chains: Sequence[re.Match[str]], length: int) -> list[tuple[int, int]]:
    spans, at = [], 0
    for chain in chains:
        spans.append((at, chain.start()))
        at = chain.end()
    spans.append((at, length))
    return spans


# -- what a sentence states


# -- the check


def check_citations(
    text: str,
    passages: Sequence[Passage],
    closeness: Sequence[Mapping[int, float]] | None = None,
    close_enough: float | None = None,
) -> CitationCheck:
    """Each cited sentence of `text` against the passages it cites (numbered from 1).

    `closeness[i][n]` is the cosine similarity of the i-th cited sentence and passage n, when the
    dense model is available; with `close_enough` a citation under it is unsupported.
    """
    sentences = cited_sentences(text)
    lowered = [collapsed(p.text) for p in passages]
    checked = []
    for index, sentence in enumerate(sentences):
        similar = closeness[index] if closeness is not None else {}
        verdicts = _verdicts(sentence, passages, lowered, similar, close_enough)
        checked.append(SentenceCheck(sentence, verdicts))
    return CitationCheck(tuple(checked), len(passages))


def _verdicts(
    sentence: CitedSentence,
    passages: Sequence[Passage],
    lowered: Sequence[str],
    similar: Mapping[int, float],
    close_enough: float | None,
) -> tuple[Verdict, ...]:
    real = [n for n in sentence.numbers if 1 <= n <= len(passages)]
    stated = claims(sentence.text)
    held = {n: [c for c in stated if holds(passages[n - 1], lowered[n - 1], c)] for n in real}
    missing = [c for c in stated if real and not any(c in held[n] for n in real)]
    verdicts = []
    for number in sentence.numbers:
        if number not in held:
            verdicts.append(Verdict(number, False, f"[{number}] is not a passage of this answer"))
        elif missing:
            verdicts.append(Verdict(number, False, f"{_listed(missing)} {_is_not(missing)} in {_names(real)}"))
        elif stated and not held[number]:
            verdicts.append(Verdict(number, False, f"[{number}] holds none of {_listed(stated)}"))
        elif close_enough is not None and number in similar and similar[number] < close_enough:
            verdicts.append(Verdict(number, False, f"the sentence is far from [{number}] ({similar[number]:.2f})"))
        else:
            verdicts.append(Verdict(number, True, _support(number, held[number], similar)))
    return tuple(verdicts)


def _support(number: int, held: Sequence[Claim], similar: Mapping[int, float]) -> str:
    close = f" (similarity {similar[number]:.2f})" if number in similar else ""
    if held:
        return f"[{number}] holds {_listed(held)}{close}"
    return f"nothing to look up in the sentence; close to [{number}]{close}" if close else "nothing to look up"


def _listed(found: Sequence[Claim], most: int = 3) -> str:
    shown = ", ".join(c.shown for c in found[:most])
    return shown + (f" and {len(found) - most} more" if len(found) > most else "")


def _is_not(missing: Sequence[Claim]) -> str:
    return "is not" if len(missing) == 1 else "are not"


def _names(numbers: Sequence[int]) -> str:
    marked = [f"[{n}]" for n in numbers]
    return marked[0] if len(marked) == 1 else ", ".join(marked[:-1]) + " or " + marked[-1]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    norms = math.hypot(*a) * math.hypot(*b)
    return sum(x * y for x, y in zip(a, b, strict=True)) / (norms or 1.0)


# -- what the check does to an answer


def drop_unsupported(text: str, check: CitationCheck) -> str:
    """The answer without the markers of the citations unsupported where they stand; a chain keeps its
    supported numbers (`[1][3]` with 3 unsupported becomes `[1]`)."""
    dropping = {s.sentence.piece: s.unsupported for s in check.sentences if s.unsupported}
    if not dropping:
        return text
    pieces = _pieces(text)
    return "".join(
        _without(piece, dropping[index]) if index in dropping else piece for index, (piece, _) in enumerate(pieces)
    )


def _without(piece: str, numbers: frozenset[int]) -> str:
    kept, at = [], 0
    for chain in MARKER_CHAINS.finditer(_masked(piece)):
        left = [n for n in NUMBERS_IN_A_CHAIN.findall(chain.group()) if int(n) not in numbers]
        before = piece[at : chain.start()]
        kept.append(before if left else before.rstrip(" \t"))
        kept.append("".join(f"[{n}]" for n in left))
        at = chain.end()
    kept.append(piece[at:])
    return "".join(kept)


def judged(citations: Sequence[Citation], check: CitationCheck, policy: UnsupportedCitations) -> tuple[Citation, ...]:
    """The citations with their verdicts; with `drop`, an unsupported one is no longer used."""
    out = []
    for number, citation in enumerate(citations, start=1):
        verdict = check.verdict(number, kept=policy is UnsupportedCitations.DROP) if citation.used else None
        if verdict is None:
            out.append(citation)
            continue
        used = verdict.supported or policy is UnsupportedCitations.FLAG
        out.append(replace(citation, supported=verdict.supported, reason=verdict.reason, used=used))
    return tuple(out)


QUOTED = "quoted as indexed"
"""The reason of every passage an extractive answer quotes: the quote is the passage."""


def quoted(citations: Sequence[Citation]) -> tuple[tuple[Citation, ...], CheckSummary]:
    """An extractive answer's citations and summary: each passage it quotes supported, nothing looked up."""
    marked = tuple(replace(c, supported=True, reason=QUOTED) if c.used else c for c in citations)
    quotes = sum(c.used for c in citations)
    return marked, CheckSummary(quotes, quotes, 0, ())


# -- saying so in text (chat completions, MCP, CLI)


def flag_of(citation: Citation) -> str:
    """What a source line in text adds for an unsupported citation: ` (unsupported: reason)`; else nothing."""
    return f" (unsupported: {citation.reason})" if citation.supported is False else ""


def invented_lines(summary: CheckSummary) -> list[str]:
    """One line per marker naming no passage, for the end of a text answer's source list."""
    return [f"[{n}] (unsupported: [{n}] is not a passage of this answer)" for n in summary.invented]
