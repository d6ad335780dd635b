"""The languages Volley reads by symbol: their files, tree-sitter grammar (a PyPI wheel, offline) and queries.

Each definition query captures a definition node as ``@<kind>`` and its name as ``@name``; the
reference query captures as ``@id`` the names a file uses the way Aider's tags do: what it calls,
instantiates, inherits from and names as a type (not module paths in imports, not every attribute). A
grammar is loaded at its first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache

import tree_sitter as ts

from volley.errors import InputError


@dataclass(frozen=True)
class Grammar:
    name: str
    module: str  # the grammar wheel's module
    function: str  # its function returning the language
    definitions: str
    references: str
    scopes: frozenset[str]  # kinds whose function-like members are methods
    # lines that may define {name} (a Rust regex): every definition the query finds is on such a line, so
    # find_symbol parses only the files having one (a superset: calls match too in some languages)
    defining_line: str = r"\b{name}\b"


_JS_DEFINITIONS = """
(class_declaration name: (_) @name) @class
(function_declaration name: (identifier) @name) @function
(generator_function_declaration name: (identifier) @name) @function
(method_definition name: (_) @name) @method
(variable_declarator name: (identifier) @name value: [(arrow_function) (function_expression)]) @function
"""
_TS_DEFINITIONS = (
    _JS_DEFINITIONS
    + """
(abstract_class_declaration name: (_) @name) @class
(interface_declaration name: (_) @name) @interface
(type_alias_declaration name: (_) @name) @type
(enum_declaration name: (_) @name) @enum
(abstract_method_signature name: (_) @name) @method
(method_signature name: (_) @name) @method
"""
)
_JS_CALLS = """
(call_expression function: [(identifier) @id (member_expression property: (property_identifier) @id)])
(new_expression constructor: [(identifier) @id (member_expression property: (property_identifier) @id)])
"""
_JS_REFERENCES = _JS_CALLS + "(class_heritage (identifier) @id)"
_TS_REFERENCES = _JS_CALLS + "(type_identifier) @id"
_JS_DEFINING = r"\b(?:class|function\*?|interface|type|enum)\s+{name}\b|\b{name}\s*[?!]?\s*(?:<[^>]*>\s*)?[(=:]"
_CLASSES = frozenset({"class", "interface", "struct", "trait", "impl", "enum", "record"})

GRAMMARS = {
    "python": Grammar(
        "python",
        "tree_sitter_python",
        "language",
        """
        (class_definition name: (identifier) @name) @class
        (function_definition name: (identifier) @name) @function
        (assignment left: (identifier) @name right: (lambda)) @function
        """,
        """
        (call function: [(identifier) @id (attribute attribute: (identifier) @id)])
        (class_definition superclasses: (argument_list [(identifier) @id (attribute attribute: (identifier) @id)]))
        (type (identifier) @id)
        (decorator [(identifier) @id (attribute attribute: (identifier) @id)])
        """,
        _CLASSES,
        r"\b(?:def|class)\s+{name}\b|\b{name}\s*(?::[^=]*)?=\s*lambda\b",
    ),
    "javascript": Grammar(
        "javascript",
        "tree_sitter_javascript",
        "language",
        _JS_DEFINITIONS,
        _JS_REFERENCES,
        _CLASSES,
        _JS_DEFINING,
    ),
    "typescript": Grammar(
        "typescript",
        "tree_sitter_typescript",
        "language_typescript",
        _TS_DEFINITIONS,
        _TS_REFERENCES,
        _CLASSES,
        _JS_DEFINING,
    ),
    "tsx": Grammar(
        "tsx",
        "tree_sitter_typescript",
        "language_tsx",
        _TS_DEFINITIONS,
        _TS_REFERENCES,
        _CLASSES,
        _JS_DEFINING,
    ),
    "go": Grammar(
        "go",
        "tree_sitter_go",
        "language",
        """
        (function_declaration name: (identifier) @name) @function
        (method_declaration name: (field_identifier) @name) @method
        (type_spec name: (type_identifier) @name type: (struct_type)) @struct
        (type_spec name: (type_identifier) @name type: (interface_type)) @interface
        (type_spec name: (type_identifier) @name type: [(type_identifier) (qualified_type) (function_type)
          (map_type) (slice_type) (pointer_type) (generic_type) (channel_type) (array_type)]) @type
        (method_elem name: (field_identifier) @name) @method
        """,
        """
        (call_expression function: [(identifier) @id (selector_expression field: (field_identifier) @id)])
        (type_identifier) @id
        """,
        _CLASSES,
        r"\bfunc\s+(?:\([^)]*\)\s*)?{name}\b|\btype\s+{name}\b|^\s*{name}\s*[\s(\[]",
    ),
    "rust": Grammar(
        "rust",
        "tree_sitter_rust",
        "language",
        """
        (function_item name: (identifier) @name) @function
        (function_signature_item name: (identifier) @name) @function
        (struct_item name: (type_identifier) @name) @struct
        (enum_item name: (type_identifier) @name) @enum
        (trait_item name: (type_identifier) @name) @trait
        (type_item name: (type_identifier) @name) @type
        (impl_item type: (_) @name) @impl
        (mod_item name: (identifier) @name) @module
        (macro_definition name: (identifier) @name) @macro
        """,
        """
        (call_expression function: [(identifier) @id (field_expression field: (field_identifier) @id)
          (scoped_identifier name: (identifier) @id)])
        (macro_invocation macro: (identifier) @id)
        (type_identifier) @id
        """,
        _CLASSES,
        r"\b(?:fn|struct|enum|trait|type|mod|union)\s+{name}\b|\bmacro_rules!\s*{name}\b|\bimpl\b.*\b{name}\b",
    ),
    "java": Grammar(
        "java",
        "tree_sitter_java",
        "language",
        """
        (class_declaration name: (identifier) @name) @class
        (interface_declaration name: (identifier) @name) @interface
        (enum_declaration name: (identifier) @name) @enum
        (record_declaration name: (identifier) @name) @record
        (method_declaration name: (identifier) @name) @method
        (constructor_declaration name: (identifier) @name) @constructor
        """,
        """
        (method_invocation name: (identifier) @id)
        (object_creation_expression type: (type_identifier) @id)
        (type_identifier) @id
        """,
        _CLASSES,
        r"\b(?:class|interface|enum|record)\s+{name}\b|\b{name}\s*\(",
    ),
}

EXTENSIONS = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
}
SUPPORTED = "Python, JavaScript, TypeScript/TSX, Go, Rust and Java"


def language_of(path: str) -> str | None:
    dot = path.rfind(".")
    if dot <= path.rfind("/") + 1:  # no extension, or a dot file such as '.ts'
        return None
    return EXTENSIONS.get(path[dot:].lower())


def require_language(path: str) -> str:
    """The file's language, or an error that says what to do instead."""
    language = language_of(path)
    if language is None:
        raise InputError(
            f"{path}: not supported for outline (symbols are read for {SUPPORTED} files); "
            "use grep for its definitions, e.g. grep pattern='^\\s*(def|class|function|func|fn) '"
        )
    return language


# Nodes holding text rather than code, in whichever grammars have them: the content of strings (not a
# whole Python f-string or JavaScript template: their interpolations are code) and comments.
_TEXT_NODES = (
    "comment",
    "line_comment",
    "block_comment",
    "string_content",
    "string_fragment",
    "interpreted_string_literal",
    "raw_string_literal",
    "char_literal",
    "character_literal",
    "rune_literal",
    "text_block",
    "regex_pattern",
)


@dataclass(frozen=True)
class Loaded:
    grammar: Grammar
    language: ts.Language
    definitions: ts.Query
    references: ts.Query
    texts: ts.Query


@cache
def load(name: str) -> Loaded:
    grammar = GRAMMARS[name]
    module = importlib.import_module(grammar.module)
    language = ts.Language(getattr(module, grammar.function)())
    present = [kind for kind in _TEXT_NODES if language.id_for_node_kind(kind, True)]
    texts = ts.Query(language, "[" + " ".join(f"({kind})" for kind in present) + "] @text")
    queries = (ts.Query(language, grammar.definitions), ts.Query(language, grammar.references), texts)
    return Loaded(grammar, language, *queries)
