"""What a sentence of an answer states in a form that can be looked up, and whether a passage holds it.

`domain.citation_check` checks the citations of an answer with these; its docstring says what is looked up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from domain.answers import CODE_SPANS


@dataclass(frozen=True)
class Passage:
    path: str
    text: str


@dataclass(frozen=True)
class Claim:
    shown: str
    """How a reason shows it: `name`, 8000, `docs/a.md`, "a quote"."""
    needle: str
    """What is looked up, lower case."""
    kind: str
    """identifier, number, path or quote."""


_QUOTED = re.compile(r"\"([^\"\n]{2,200})\"|“([^”\n]{2,200})”")
_URL = re.compile(r"https?://[^\s)>\]]+")
_PATHLIKE = re.compile(r"(?<![\w/.-])(?:~|\.{1,2})?/?[\w.-]+(?:/[\w.-]+)+/?")
_WORD = re.compile(r"(?<![\w-])(?:--?[A-Za-z][\w-]*|[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*)")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)*(?![\w])")
_CODE_TOKEN = re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*|[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*|\d+(?:\.\d+)*")
_TRAILING = ".,;:!?'\")"
_NOT_DOTTED_NAMES = {"e.g", "i.e", "etc", "vs"}


def claims(sentence: str) -> list[Claim]:
    """What the sentence states that can be looked up in a passage, once each."""
    found: list[Claim] = []
    rest = sentence
    for span in CODE_SPANS.findall(rest):
        found.extend(_code_claims(span.strip("`")))
    rest = CODE_SPANS.sub(" ", rest)
    for quote in _QUOTED.finditer(rest):
        text = " ".join((quote.group(1) or quote.group(2)).split()).strip(_TRAILING)
        if len(text) >= 2:
            found.append(Claim(f'"{text}"', text.lower(), "quote"))
    rest = _QUOTED.sub(" ", rest)
    for path in [*_URL.findall(rest), *(p for p in _PATHLIKE.findall(_URL.sub(" ", rest)) if _is_path(p))]:
        found.append(_path(path.rstrip(_TRAILING)))
    rest = _PATHLIKE.sub(" ", _URL.sub(" ", rest))
    found.extend(Claim(f"`{w}`", w.lower(), "identifier") for w in _WORD.findall(rest) if _is_identifier(w))
    found.extend(_number(n) for n in _NUMBER.findall(rest) if _is_number(n))
    return list({claim.needle: claim for claim in found}.values())


def _code_claims(code: str) -> list[Claim]:
    if "/" in code and " " not in code.strip():
        return [_path(code.strip())]
    found = []
    for token in _CODE_TOKEN.findall(code):
        if token[0].isdigit():
            if _is_number(token):
                found.append(_number(token))
        elif len(token.lstrip("-")) >= 2:
            found.append(Claim(f"`{token}`", token.lower(), "identifier"))
    return found


def _path(path: str) -> Claim:
    return Claim(f"`{path}`", path.lower(), "path")


def _number(number: str) -> Claim:
    return Claim(number, number, "number")


def _is_path(text: str) -> bool:
    """A/B is a path when it looks like one: a file name with an extension last, a leading / ./ ../ ~/,
    or two slashes; `and/or` and `client/server` are words."""
    last = text.rstrip("/").rsplit("/", 1)[-1]
    return "." in last.strip(_TRAILING) or text.startswith(("/", "./", "../", "~/")) or text.count("/") >= 2


def _is_identifier(word: str) -> bool:
    if word.startswith("-"):
        return word.startswith("--") and len(word) > 3
    if "." in word:
        return word.lower() not in _NOT_DOTTED_NAMES and any(len(part) >= 2 for part in word.split("."))
    letters = [c for c in word if c.isalpha()]
    if "_" in word:
        return bool(letters) and word.strip("_") != ""
    if any(c.isdigit() for c in word):
        return len(word) >= 3 and bool(letters)
    inner_capital = any(c.isupper() for c in word[1:])
    return inner_capital and any(c.islower() for c in word)


def _is_number(number: str) -> bool:
    return len(number) >= 2


# -- looking claims up


def collapsed(text: str) -> str:
    return " ".join(text.lower().split())


def holds(passage: Passage, text: str, claim: Claim) -> bool:
    """Whether the passage (its collapsed lower-case text) holds the claim."""
    if claim.kind == "quote":
        return claim.needle in text
    if claim.kind == "path":
        path = passage.path.lower()
        needle = claim.needle.lstrip("./~")
        return claim.needle in text or path.endswith(needle) or (bool(path) and needle.endswith(path))
    if _found(claim.needle, text) or _names_the_file(passage, claim.needle):
        return True
    if claim.kind == "identifier":
        if "." in claim.needle and not claim.needle.startswith("-"):
            return all(_found(part, text) for part in claim.needle.split(".") if part)
        return claim.needle.endswith("s") and len(claim.needle) > 3 and _found(claim.needle[:-1], text)
    return False


def _found(needle: str, text: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(needle)}(?![\w])", text) is not None


def _names_the_file(passage: Passage, needle: str) -> bool:
    return passage.path.lower().rsplit("/", 1)[-1] == needle
