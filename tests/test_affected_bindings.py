"""What import-time code binds (volley/affected/bindings.py): the names the recorded way follows a change by,
and the statements whose effect has no name (left to the import graph)."""

from __future__ import annotations

from volley.affected.blocks import blocks_of


def _units(source: str) -> list[tuple[set[str], str]]:
    found = blocks_of(source)
    assert found is not None
    return [(set(unit.binds | unit.changes), unit.opaque) for unit in found.units]


def test_each_statement_binds_its_names_and_a_class_statement_its_class() -> None:
    source = '"""doc"""\nimport typing as t\nfrom .signer import Signer as S\nLIMIT = 3\n'
    source += "class C(S):\n    default = LIMIT\n\n    @property\n    def m(self):\n        return self.default\n"
    source += "def f(x=LIMIT):\n    return x\n"
    assert _units(source) == [
        ({"t"}, ""),
        ({"S"}, ""),
        ({"LIMIT"}, ""),
        ({"C"}, ""),
        ({"C"}, ""),
        ({"C"}, ""),
        ({"f"}, ""),
    ]


def test_what_a_call_may_change_and_what_all_lists_are_bound_too() -> None:
    source = "from flask import Flask\napp = Flask(__name__)\n\n@app.route('/')\ndef index():\n    return 'x'\n"
    source += "__all__ = ['index', 'app']\nREG = {}\nREG['a'] = index\n"
    assert _units(source) == [
        ({"Flask"}, ""),
        ({"app"}, ""),
        ({"index", "app"}, ""),
        ({"__all__", "index", "app"}, ""),
        ({"REG"}, ""),
        ({"REG"}, ""),
    ]


def test_statements_whose_effect_has_no_name_are_opaque() -> None:
    source = "import os\nimport atexit\nfrom .x import *\nprint('hi')\nos.environ['A'] = '1'\n"
    source += "with open('f') as f:\n    DATA = f.read()\nglobals()['x'] = 1\ndef __getattr__(name):\n    return name\n"
    opaque = [why for _, why in _units(source) if why]
    assert opaque == [
        "a star import",
        "it calls code for its effect",
        "it changes the module os",
        "it runs a context manager",
        "it calls globals()",
        "it defines the module's __getattr__",
    ]


def test_code_only_a_type_checker_reads_binds_nothing() -> None:
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .big import Thing\n"
    found = blocks_of(source)
    assert found is not None and [set(u.binds) for u in found.units] == [{"TYPE_CHECKING"}, set()]


def test_what_a_function_changes_outside_itself() -> None:
    source = "HANDLERS = {}\nSEEN = []\nCOUNT = 0\n\n\ndef register(f, name=None):\n    global COUNT\n"
    source += "    COUNT += 1\n    HANDLERS[name or f.__name__] = f\n    SEEN.append(f)\n    f.registered = True\n"
    source += "    local = []\n    local.append(1)\n    return f\n"
    found = blocks_of(source)
    assert found is not None and found.writes["register"] == {"COUNT", "HANDLERS", "SEEN"}


def test_a_line_of_a_decorator_inside_a_function_is_the_functions() -> None:
    """A test whose first statement is a decorated function failed on the decorator (click's 9f9b149ea3: the
    decorator did not exist yet): that line is the test's own code, not the module's."""
    from volley.affected.blocks import names_of_lines

    source = "import click\n\n\ndef test_it():\n    @click.command()\n    @click.new_option()\n"
    source += "    def cli():\n        pass\n"
    found = blocks_of(source)
    assert found is not None
    assert names_of_lines(found, [5, 6]) == {"test_it"} and names_of_lines(found, [8]) == {"test_it.<locals>.cli"}


def test_the_line_an_overloads_stub_shares_with_its_signature_is_the_modules() -> None:
    """click's `edit` has three `@t.overload` stubs whose `...` ends the signature's last line, which runs at
    import (its annotations): that line said `edit` ran at import, and the whole suite followed its name."""
    from volley.affected.blocks import names_of_lines

    source = "import typing as t\n\n\n@t.overload\ndef edit(text: str) -> str: ...\n\n\n"
    source += "def edit(text):\n    return text\n"
    found = blocks_of(source)
    assert found is not None
    assert names_of_lines(found, [5]) == {"<module>"} and names_of_lines(found, [9]) == {"edit"}


def test_a_method_called_for_its_effect_changes_its_object() -> None:
    """click's tests/test_imports.py does `if WIN: ALLOWED_IMPORTS.update({...})` at import: that changes
    ALLOWED_IMPORTS, as `X = ALLOWED_IMPORTS.update(...)` would; it was opaque, and every change that reached a
    name the set lists sent the whole suite to the import graph. A module's function called so stays opaque."""
    source = "import os\nALLOWED = {'os'}\nif WIN:\n    ALLOWED.update({'ctypes'})\nos.makedirs('x')\n"
    found = blocks_of(source)
    assert found is not None
    assert [(set(u.changes), u.opaque) for u in found.units][2:] == [
        ({"ALLOWED"}, ""),
        (set(), "it calls code for its effect"),
    ]
