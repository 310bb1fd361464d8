"""Markup in Markdown and MDX files that is not content: what the embedded text leaves out.

- YAML front matter (`---` ... `---` on the first lines); its `title` is handed back as the page title.
- MDX ESM: a paragraph whose first line is an `import` or `export` statement.
- `<script>` and `<style>` elements (VitePress pages have them), tags and contents.
- JSX and HTML tags on lines of their own (`<Callout type="info">`, `</Tabs>`, `<Snippet src={x} />`),
  opening tags spread over several lines included, and `{/* comments */}`, `<!-- comments -->` and
  `{" "}` spacers. Tags inside a line of prose are dropped from that line's embedded form
  (their text content stays); inline code spans are left as they are, so `` `<Suspense>` `` survives.

Nothing inside a fenced code block is ever markup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
_TITLE = re.compile(r"^title:\s*(.*?)\s*$")
_ESM = re.compile(
    r"^(?:import\s+(?:[\w$]+\s*(?:,|from\b)|[{*\"']|type\s)"
    r"|export\s+(?:default|const|let|var|function|async|class|type|interface|enum)\b|export\s*[{*])"
)
_TAG_START = re.compile(r"<(/?)([A-Za-z][\w.-]*)?")
_CODE_SPAN_OR_COMMENT = re.compile(r"(?P<code>(?P<ticks>`+).+?(?<!`)(?P=ticks)(?!`))|<!--.*?-->|\{/\*.*?\*/\}")
_SPACER = re.compile(r"\{\s*(\"|')[^\"']*\1\s*\}")
"""`{" "}`: JSX's way to keep a space."""
_MAX_TAG_LINES = 40
"""An opening tag left open longer than this is taken for text, not a tag."""


@dataclass(frozen=True)
class Markup:
    fenced: list[bool]
    """Per line: inside a fenced code block (the fence lines included)."""
    noise: set[int] = field(default_factory=set)
    rewrites: dict[int, str] = field(default_factory=dict)
    title: str | None = None


def fenced_lines(lines: Sequence[str], start: int = 0) -> list[bool]:
    """A fence closes at a fence of the same character, at least as long, with nothing after it."""
    inside = [False] * len(lines)
    opener = ""
    for index in range(start, len(lines)):
        match = _FENCE.match(lines[index])
        if not opener:
            if match and not (match.group(1)[0] == "`" and "`" in match.group(2)):
                opener = match.group(1)
                inside[index] = True
            continue
        inside[index] = True
        fence = match.group(1) if match else ""
        if fence[:1] == opener[0] and len(fence) >= len(opener) and match and not match.group(2).strip():
            opener = ""
    return inside


def find_markup(lines: Sequence[str]) -> Markup:
    body, title = _front_matter(lines)
    markup = Markup(fenced_lines(lines, body), set(range(body)), {}, title)
    index = body
    while index < len(lines):
        index = _mark_from(lines, index, markup, paragraph_start=index == body or not lines[index - 1].strip())
    return markup


def strip_markup(text: str) -> str:
    """`text` without its complete tags and JSX/HTML comments, code spans left untouched."""
    if "<" not in text and "{" not in text:
        return text
    pieces: list[str] = []
    position = 0
    for match in _CODE_SPAN_OR_COMMENT.finditer(text):
        pieces.append(_strip_tags(text[position : match.start()]))
        if match.group("code"):
            pieces.append(match.group())
        position = match.end()
    pieces.append(_strip_tags(text[position:]))
    return "".join(pieces)


def _front_matter(lines: Sequence[str]) -> tuple[int, str | None]:
    """The index of the first line after the front matter (0 when there is none) and its title."""
    if not lines or lines[0].strip() != "---":
        return 0, None
    title: str | None = None
    for index in range(1, len(lines)):
        if lines[index].strip() in ("---", "..."):
            return index + 1, title
        match = _TITLE.match(lines[index])
        if match and match.group(1) and match.group(1)[0] not in "|>":
            title = _unquote(match.group(1)) or None
    return 0, None


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1].strip()
    return value


def _mark_from(lines: Sequence[str], index: int, markup: Markup, paragraph_start: bool) -> int:
    """Mark the markup that starts at line `index`; return the next line to look at."""
    if markup.fenced[index]:
        return index + 1
    line = lines[index]
    stripped = line.strip()
    if paragraph_start and _ESM.match(line):
        end = index
        while end < len(lines) and lines[end].strip() and not markup.fenced[end]:
            end += 1
        markup.noise.update(range(index, end))
        return end
    for opening, closing in (("<!--", "-->"), ("{/*", "*/}"), ("<script", "</script>"), ("<style", "</style>")):
        if stripped.startswith(opening) and closing not in stripped:
            last = _line_containing(lines, index + 1, closing)
            if last is not None:
                markup.noise.update(range(index, last + 1))
                return last + 1
    if stripped.startswith("<"):
        tag_end = _tag_end(lines, index, line.index("<"))
        if tag_end is not None and tag_end[0] > index:
            row, column = tag_end
            markup.noise.update(range(index, row))
            _mark_line(lines[row], lines[row][column:], row, markup)
            return row + 1
    _mark_line(line, line, index, markup)
    return index + 1


def _mark_line(line: str, rest: str, index: int, markup: Markup) -> None:
    """A line whose `rest` is nothing but markup is noise; one with text among markup is rewritten without it."""
    cleaned = strip_markup(rest)
    if not cleaned.strip():
        if line.strip():
            markup.noise.add(index)
    elif cleaned != line:
        markup.rewrites[index] = cleaned.rstrip()


def _line_containing(lines: Sequence[str], start: int, needle: str) -> int | None:
    for index in range(start, len(lines)):
        if needle in lines[index]:
            return index
    return None


def _strip_tags(text: str) -> str:
    text = _SPACER.sub("", text)
    pieces: list[str] = []
    position = 0
    search_from = 0
    while (opening := text.find("<", search_from)) >= 0:
        end = _tag_end([text], 0, opening)
        if end is None:
            search_from = opening + 1
            continue
        pieces.append(text[position:opening])
        position = search_from = end[1]
    pieces.append(text[position:])
    return "".join(pieces)


def _tag_end(lines: Sequence[str], row: int, column: int) -> tuple[int, int] | None:
    """Where the tag whose `<` is at (row, column) ends: (row, column after its `>`); None if it is no tag.

    Quotes and `{...}` expressions in attributes may hold `>`; another `<` before the tag closes,
    or no close within _MAX_TAG_LINES, means it was not a tag.
    """
    line = lines[row]
    start = _TAG_START.match(line, column)
    if start is None:
        return None
    after = start.end()
    if start.group(2) is None:  # fragments: <> and </>
        return (row, after + 1) if line.startswith(">", after) else None
    if after < len(line) and line[after] not in " \t/>":
        return None
    return _attributes_end(lines, row, after)


def _attributes_end(lines: Sequence[str], row: int, after: int) -> tuple[int, int] | None:
    """Past a tag's name at (row, after): where its `>` is, outside quotes and `{...}`; None at a `<`."""
    quote = ""
    depth = 0
    for current in range(row, min(len(lines), row + _MAX_TAG_LINES)):
        text = lines[current]
        for position in range(after if current == row else 0, len(text)):
            char = text[position]
            if quote:
                quote = "" if char == quote else quote
            elif char in "\"'" or (char == "`" and depth):
                quote = char
            elif char == "{":
                depth += 1
            elif char == "}":
                depth = max(0, depth - 1)
            elif depth == 0 and char == ">":
                return current, position + 1
            elif depth == 0 and char == "<":
                return None
    return None
