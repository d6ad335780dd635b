"""A client's path read the way Windows reads it (volley/client_paths.py), checked on Linux against ntpath's
semantics: every form Windows would open as something else than the named file is refused with its reason,
the rest becomes one /-separated path for the sandbox, which refuses escapes the same way on every platform."""

from __future__ import annotations

import ntpath
from pathlib import Path, PureWindowsPath

import pytest

from volley.client_paths import client_path
from volley.errors import EscapeError, InputError
from volley.workspace import Workspace

ACCEPTED = {
    "src\\app.py": "src/app.py",
    "src/pkg\\mod.py": "src/pkg/mod.py",  # mixed separators
    "C:\\Users\\me\\proj\\a.py": "C:/Users/me/proj/a.py",
    "c:/Users/me/proj/a.py": "C:/Users/me/proj/a.py",
    "..\\..\\Windows\\System32": "../../Windows/System32",  # refused by the sandbox, as on POSIX
    ".\\README.md": "./README.md",
    "docs\\con-tents.md": "docs/con-tents.md",  # a name that only begins like a device
    "COM10.txt": "COM10.txt",  # COM1-9 are devices, COM10 is not
}
REFUSED = {
    "\\\\?\\C:\\proj\\.env": "device or extended-length",
    "\\\\.\\PhysicalDrive0": "device or extended-length",
    "//?/C:/proj/a.py": "device or extended-length",
    "\\\\server\\share\\a.py": "network (UNC)",
    "//server/share/a.py": "network (UNC)",
    "C:proj\\a.py": "a drive without a folder",
    "\\proj\\a.py": "absolute without a drive",
    ".env.": "ends in a dot or a space",
    ".env ": "ends in a dot or a space",
    "keys\\id_rsa. . ": "ends in a dot or a space",
    "src.\\a.py": "ends in a dot or a space",
    "a.txt::$DATA": "hidden stream",
    ".env:secret": "hidden stream",
    "NUL": "device name",
    "src\\con": "device name",
    "Aux.py": "device name",
    "lpt1.txt": "device name",
    "COM¹": "device name",
    "CONIN$": "device name",
    "a?.py": "does not allow",
    "a*b": "does not allow",
    'say"hi"': "does not allow",
}


@pytest.mark.parametrize(("given", "expected"), list(ACCEPTED.items()))
def test_a_windows_path_becomes_one_slash_separated_path(given: str, expected: str) -> None:
    assert client_path(given, windows=True) == expected
    assert PureWindowsPath(given) == PureWindowsPath(expected)  # the same path, for Windows
    assert ntpath.isabs(given) == ntpath.isabs(expected)


def test_a_name_of_dots_alone_is_refused_unless_it_is_dot_or_dot_dot() -> None:
    with pytest.raises(InputError, match="ends in a dot"):
        client_path("...\\x", windows=True)  # Windows reads `...` as `.`, not a folder named `...`


@pytest.mark.parametrize(("given", "why"), list(REFUSED.items()))
def test_what_windows_reads_as_another_thing_is_refused_with_its_reason(given: str, why: str) -> None:
    with pytest.raises(InputError, match=why.replace("(", r"\(").replace(")", r"\)")):
        client_path(given, windows=True)


@pytest.mark.parametrize("given", ["src\\app.py", "a.txt:b", "NUL", ".env.", "C:\\x"])
def test_elsewhere_a_backslash_and_a_colon_are_characters_of_a_name(given: str) -> None:
    assert client_path(given, windows=False) == given


def test_escapes_written_the_windows_way_are_refused_like_any_other(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("x\n")
    ws = Workspace(tmp_path)
    assert ws.resolve(client_path("src\\a.py", windows=True)).rel == "src/a.py"
    with pytest.raises(EscapeError, match="escapes the workspace"):
        ws.resolve(client_path("src\\..\\..\\outside.txt", windows=True))
