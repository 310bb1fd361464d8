"""TreeSitterOutline: the functions, classes and methods of source files, found by tree-sitter.

Python, JavaScript (JSX too), TypeScript, TSX, Go, Rust and Java, by file suffix; other files have
no symbols. The grammars are the compiled ones `tree-sitter-language-pack` 0.x ships inside its
wheel: nothing is downloaded, ever (its 1.x releases fetch grammars at run time, so the project
pins 0.x). A grammar is loaded on first use; each call parses with a parser of its own, so calls
from several threads at once are safe.

A symbol starts at the comments (and Rust attributes) right above it, with no blank line between,
so doc comments stay with what they document; decorators and `export` belong to it too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from tree_sitter import Language, Node, Parser
from tree_sitter_language_pack import SupportedLanguage, get_language

from application.ports.sources import CodeOutline
from domain.chunking import CodeSymbol

Labeller = Callable[[Node], str | None]


def _text(node: Node | None) -> str:
    return " ".join((node.text or b"").decode("utf-8", "replace").split()) if node is not None else ""


def _named(keyword: str) -> Labeller:
    """`keyword name`, from the node's `name` field."""

    def label(node: Node) -> str | None:
        name = _text(node.child_by_field_name("name"))
        return f"{keyword} {name}" if name else None

    return label


def _call(node: Node) -> str | None:
    """`name()`: methods and constructors, which have no keyword of their own."""
    name = _text(node.child_by_field_name("name"))
    return f"{name}()" if name else None


def _python_function(node: Node) -> str | None:
    name = _text(node.child_by_field_name("name"))
    keyword = "async def" if node.children and node.children[0].type == "async" else "def"
    return f"{keyword} {name}" if name else None


_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function", "class"})


def _bound_function(node: Node) -> str | None:
    """`const handler = (...) => {...}`: a declaration whose first value is a function or class."""
    declarator = next((c for c in node.named_children if c.type == "variable_declarator"), None)
    if declarator is None:
        return None
    value = declarator.child_by_field_name("value")
    if value is None or value.type not in _FUNCTION_VALUES:
        return None
    keyword = node.children[0].type if node.children else "var"
    return f"{keyword} {_text(declarator.child_by_field_name('name'))}"


def _go_method(node: Node) -> str | None:
    receiver, name = _text(node.child_by_field_name("receiver")), _text(node.child_by_field_name("name"))
    return f"func {receiver} {name}" if name else None


def _go_types(node: Node) -> str | None:
    names = [_text(spec.child_by_field_name("name")) for spec in node.named_children if spec.type == "type_spec"]
    return f"type {', '.join(names)}" if names else None


def _rust_impl(node: Node) -> str | None:
    trait, kind = _text(node.child_by_field_name("trait")), _text(node.child_by_field_name("type"))
    return f"impl {trait} for {kind}" if trait else f"impl {kind}"


@dataclass(frozen=True)
class _Grammar:
    language: SupportedLanguage
    symbols: Mapping[str, Labeller]
    """Node types that are symbols, and how each is labelled."""
    containers: frozenset[str] = frozenset()
    """Symbol node types whose bodies hold nested symbols."""
    bodies: frozenset[str] = frozenset()
    """Node types that are such a body, or a part of one."""
    wrappers: frozenset[str] = frozenset()
    """Node types around a symbol that belong to it (decorators, `export`)."""
    leading: frozenset[str] = frozenset({"comment"})
    """Node types right above a symbol that belong to it (comments)."""


_SCRIPT_SYMBOLS: dict[str, Labeller] = {
    "function_declaration": _named("function"),
    "generator_function_declaration": _named("function*"),
    "class_declaration": _named("class"),
    "method_definition": _call,
    "lexical_declaration": _bound_function,
    "variable_declaration": _bound_function,
}
_TYPESCRIPT_SYMBOLS: dict[str, Labeller] = {
    **_SCRIPT_SYMBOLS,
    "abstract_class_declaration": _named("abstract class"),
    "interface_declaration": _named("interface"),
    "type_alias_declaration": _named("type"),
    "enum_declaration": _named("enum"),
    "internal_module": _named("namespace"),
    "module": _named("module"),
    "abstract_method_signature": _call,
}
_JAVASCRIPT = _Grammar(
    "javascript",
    _SCRIPT_SYMBOLS,
    containers=frozenset({"class_declaration"}),
    bodies=frozenset({"class_body"}),
    wrappers=frozenset({"export_statement"}),
)
_TYPESCRIPT = _Grammar(
    "typescript",
    _TYPESCRIPT_SYMBOLS,
    containers=frozenset({"class_declaration", "abstract_class_declaration", "internal_module", "module"}),
    bodies=frozenset({"class_body", "statement_block"}),
    wrappers=frozenset({"export_statement", "expression_statement", "ambient_declaration"}),
)
_GRAMMARS: dict[str, _Grammar] = {
    ".py": _Grammar(
        "python",
        {"function_definition": _python_function, "class_definition": _named("class")},
        containers=frozenset({"class_definition"}),
        bodies=frozenset({"block"}),
        wrappers=frozenset({"decorated_definition"}),
    ),
    ".js": _JAVASCRIPT,
    ".ts": _TYPESCRIPT,
    ".tsx": replace(_TYPESCRIPT, language="tsx"),
    ".go": _Grammar(
        "go",
        {"function_declaration": _named("func"), "method_declaration": _go_method, "type_declaration": _go_types},
    ),
    ".rs": _Grammar(
        "rust",
        {
            "function_item": _named("fn"),
            "function_signature_item": _named("fn"),
            "struct_item": _named("struct"),
            "enum_item": _named("enum"),
            "union_item": _named("union"),
            "trait_item": _named("trait"),
            "impl_item": _rust_impl,
            "mod_item": _named("mod"),
            "type_item": _named("type"),
            "macro_definition": _named("macro_rules!"),
        },
        containers=frozenset({"impl_item", "trait_item", "mod_item"}),
        bodies=frozenset({"declaration_list"}),
        leading=frozenset({"line_comment", "block_comment", "attribute_item"}),
    ),
    ".java": _Grammar(
        "java",
        {
            "class_declaration": _named("class"),
            "interface_declaration": _named("interface"),
            "enum_declaration": _named("enum"),
            "record_declaration": _named("record"),
            "annotation_type_declaration": _named("@interface"),
            "method_declaration": _call,
            "constructor_declaration": _call,
        },
        containers=frozenset({"class_declaration", "interface_declaration", "enum_declaration", "record_declaration"}),
        bodies=frozenset({"class_body", "interface_body", "enum_body", "enum_body_declarations"}),
        leading=frozenset({"line_comment", "block_comment"}),
    ),
}
_ALIASES = {".pyi": ".py", ".jsx": ".js", ".mjs": ".js", ".cjs": ".js", ".mts": ".ts", ".cts": ".ts"}


class TreeSitterOutline(CodeOutline):
    def __init__(self) -> None:
        self._languages: dict[str, Language] = {}
        self._lock = threading.Lock()

    def symbols(self, path: str, text: str) -> tuple[CodeSymbol, ...]:
        suffix = PurePosixPath(path).suffix.lower()
        grammar = _GRAMMARS.get(_ALIASES.get(suffix, suffix))
        if grammar is None:
            return ()
        # A lone surrogate (text that was never valid UTF-8) becomes "?": every line keeps its number.
        tree = Parser(self._language(grammar)).parse(text.encode("utf-8", "replace"))
        return tuple(_Walk(grammar).symbols_in(tree.root_node))

    def _language(self, grammar: _Grammar) -> Language:
        with self._lock:
            language = self._languages.get(grammar.language)
            if language is None:
                language = self._languages[grammar.language] = get_language(grammar.language)
            return language


def _last_row(node: Node) -> int:
    """The node's last line: one that ends at column 0 ended with the line before."""
    row = node.end_point.row
    return row - 1 if node.end_point.column == 0 and row > node.start_point.row else row


@dataclass(frozen=True)
class _Walk:
    grammar: _Grammar

    def symbols_in(self, parent: Node) -> Iterator[CodeSymbol]:
        """The symbols among `parent`'s children, each with the comments right above it."""
        leading: list[Node] = []
        previous_row = -1
        for child in self._children(parent):
            if child.type in self.grammar.leading:
                own_line = child.start_point.row > previous_row
                joined = not leading or child.start_point.row <= _last_row(leading[-1]) + 1
                leading = [*leading, child] if own_line and joined else ([child] if own_line else [])
                previous_row = _last_row(child)
                continue
            symbol = self._symbol(child)
            if symbol is not None:
                if leading and _last_row(leading[-1]) + 1 >= child.start_point.row:
                    symbol = replace(symbol, start_line=leading[0].start_point.row + 1)
                yield symbol
            leading = []
            previous_row = _last_row(child)

    def _children(self, node: Node) -> Iterator[Node]:
        for child in node.named_children:
            if child.type in self.grammar.bodies:
                yield from self._children(child)
            else:
                yield child

    def _symbol(self, node: Node) -> CodeSymbol | None:
        if node.type in self.grammar.wrappers:
            inner = next((s for c in node.named_children if (s := self._symbol(c)) is not None), None)
            if inner is None:
                return None
            return replace(inner, start_line=node.start_point.row + 1, end_line=_last_row(node) + 1)
        labeller = self.grammar.symbols.get(node.type)
        label = labeller(node) if labeller else None
        if not label:
            return None
        children: tuple[CodeSymbol, ...] = ()
        if node.type in self.grammar.containers:
            bodies = [c for c in node.named_children if c.type in self.grammar.bodies]
            children = tuple(symbol for body in bodies for symbol in self.symbols_in(body))
        return CodeSymbol(label, node.start_point.row + 1, _last_row(node) + 1, children)
