"""edit and undo_edit over a real server: all or nothing, faithful to each file, checked after the change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from tests.conftest import SERVER_ENV, serve, text_of, write
from volley.edits import writer

pytestmark = pytest.mark.anyio


def _replace(path: str, old: str, new: str, **more: object) -> dict[str, object]:
    return {"path": path, "old": old, "new": new, **more}


async def test_several_files_change_together_each_as_its_file_was(tmp_path: Path) -> None:
    write(tmp_path, "crlf.py", b"def f(x):\r\n    return x + 1\r\n")
    write(tmp_path, "bom.txt", b"\xef\xbb\xbfname = caf\xe9 latin-1 byte\nlast line without newline")
    write(tmp_path, "plain.py", "A = 1\n")
    changes = [
        _replace("crlf.py", "def f(x):\n    return x + 1\n", "def f(x):\n    y = x + 2\n    return y\n"),
        _replace("bom.txt", "last line", "final line"),
        _replace("plain.py", "A = 1", "A = 2"),
        {"path": "pkg/sub/new.py", "action": "create", "new": "B = 3\n"},
    ]
    async with serve(tmp_path) as client:
        result = await client.call_tool("edit", {"changes": changes, "lint": False})
    assert not result.is_error, text_of(result)
    assert (tmp_path / "crlf.py").read_bytes() == b"def f(x):\r\n    y = x + 2\r\n    return y\r\n"
    assert (tmp_path / "bom.txt").read_bytes() == b"\xef\xbb\xbfname = caf\xe9 latin-1 byte\nfinal line without newline"
    assert (tmp_path / "plain.py").read_text() == "A = 2\n"
    assert (tmp_path / "pkg/sub/new.py").read_text() == "B = 3\n"
    files = {f["path"]: f for f in result.structured_content["files"]}
    assert files["crlf.py"]["matched"] == ["line endings"] and files["pkg/sub/new.py"]["action"] == "create"
    assert not [p for p in tmp_path.rglob(".volley-edit-*")]


async def test_nothing_is_written_when_one_change_cannot_apply(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "x = 1\n")
    write(tmp_path, "b.py", "def g():\n    return compute(1, 2)\n\n\ndef h():\n    return 0\n")
    write(tmp_path, "dup.py", "v = 0\nv = 0\nw = 1\n")
    async with serve(tmp_path) as client:
        missing = await client.call_tool(
            "edit",
            {"changes": [_replace("a.py", "x = 1", "x = 2"), _replace("b.py", "return compute(1, 3)", "return 5")]},
        )
        twice = await client.call_tool("edit", {"changes": [_replace("dup.py", "v = 0", "v = 9")]})
        every = await client.call_tool("edit", {"changes": [_replace("dup.py", "v = 0", "v = 9", replace_all=True)]})
        created_then_bad = await client.call_tool(
            "edit",
            {"changes": [{"path": "n.py", "action": "create", "new": "n = 1\n"}, _replace("a.py", "nope", "x")]},
        )
    assert missing.is_error and (tmp_path / "a.py").read_text() == "x = 1\n"
    assert "lines 2-2" in text_of(missing) and "compute(1, 2)" in text_of(missing)
    assert twice.is_error and "2 places" in text_of(twice) and "lines 1, 2" in text_of(twice)
    assert not every.is_error and (tmp_path / "dup.py").read_text() == "v = 9\nv = 9\nw = 1\n"
    assert created_then_bad.is_error and not (tmp_path / "n.py").exists()


async def test_loose_matches_are_named_and_keep_the_files_indentation(tmp_path: Path) -> None:
    write(tmp_path, "m.py", "class K:\n    def run(self):   \n        return 1\n\n    def stop(self):\n        pass\n")
    async with serve(tmp_path) as client:
        trailing = await client.call_tool(
            "edit", {"changes": [_replace("m.py", "    def run(self):\n", "    def run(self, fast):\n")], "lint": False}
        )
        shifted = await client.call_tool(
            "edit",
            {
                "changes": [_replace("m.py", "def stop(self):\n    pass\n", "def stop(self):\n    return None\n")],
                "lint": False,
            },
        )
    assert trailing.structured_content["files"][0]["matched"] == ["trailing whitespace"], text_of(trailing)
    assert shifted.structured_content["files"][0]["matched"] == ["indentation"], text_of(shifted)
    assert (tmp_path / "m.py").read_text() == (
        "class K:\n    def run(self, fast):\n        return 1\n\n    def stop(self):\n        return None\n"
    )


async def test_an_edit_against_a_file_changed_since_it_was_read_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "s.py", "value = 1\n")
    async with serve(tmp_path) as client:
        read = await client.call_tool("read_file", {"path": "s.py"})
        version = read.structured_content["files"][0]["version"]
        assert f"[version {version}]" in text_of(read)
        (tmp_path / "s.py").write_text("value = 1\nother = 2\n")  # another writer, after the read
        stale = await client.call_tool(
            "edit", {"changes": [_replace("s.py", "value = 1", "value = 3")], "versions": {"s.py": version}}
        )
        fresh = (await client.call_tool("read_file", {"path": "s.py"})).structured_content["files"][0]["version"]
        ok = await client.call_tool(
            "edit",
            {"changes": [_replace("s.py", "value = 1", "value = 3")], "versions": {"s.py": fresh}, "lint": False},
        )
    assert stale.is_error and "changed since you read it" in text_of(stale)
    assert not ok.is_error and (tmp_path / "s.py").read_text() == "value = 3\nother = 2\n"


async def test_dry_run_shows_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    write(tmp_path, "d.py", "a = 1\nb = 2\n")
    async with serve(tmp_path) as client:
        result = await client.call_tool(
            "edit",
            {
                "changes": [_replace("d.py", "b = 2", "b = 3"), {"path": "e.py", "action": "create", "new": "e\n"}],
                "dry_run": True,
            },
        )
    assert "-b = 2\n+b = 3" in text_of(result) and "+++ b/e.py" in text_of(result)
    assert (tmp_path / "d.py").read_text() == "a = 1\nb = 2\n" and not (tmp_path / "e.py").exists()


async def test_only_what_the_change_introduced_is_listed_and_a_broken_change_can_revert(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[tool.ruff]\n")
    write(tmp_path, "old.py", "import os\nimport sys\n\n\ndef f():\n    return 1\n")  # two unused imports already
    async with serve(tmp_path) as client:
        shifted = await client.call_tool(
            "edit",
            {
                "changes": [
                    _replace(
                        "old.py",
                        "def f():\n    return 1\n",
                        "def f():\n    a = 1\n    print(a)\n    return undefined_x\n",
                    )
                ]
            },
        )
        broken = await client.call_tool(
            "edit",
            {"changes": [_replace("old.py", "    return undefined_x\n", "    return (\n")], "on_failure": "revert"},
        )
    lint = shifted.structured_content["lint"]
    assert [d["code"] for d in lint["introduced"]] == ["F821"], text_of(shifted)
    assert lint["preexisting"] == 2 and lint["fixed"] == 0
    assert broken.structured_content["reverted"] and broken.structured_content["syntax"][0]["line"] == 8
    assert "undefined_x" in (tmp_path / "old.py").read_text()


async def test_tests_run_after_the_change_and_a_failure_reverts_it(tmp_path: Path) -> None:
    write(tmp_path, "calc.py", "def add(a, b):\n    return a + b\n")
    write(tmp_path, "test_calc.py", "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n")
    async with serve(tmp_path) as client:
        bad = await client.call_tool(
            "edit",
            {"changes": [_replace("calc.py", "a + b", "a - b")], "tests": ["test_calc.py"], "on_failure": "revert"},
        )
        good = await client.call_tool(
            "edit", {"changes": [_replace("calc.py", "return a + b", "return b + a")], "tests": ["test_calc.py"]}
        )
    assert bad.structured_content["tests"]["failed"] == 1 and bad.structured_content["reverted"]
    assert good.structured_content["tests"]["passed"] == 1 and not good.structured_content["reverted"]
    assert (tmp_path / "calc.py").read_text() == "def add(a, b):\n    return b + a\n"


async def test_undo_restores_an_edit_unless_its_files_changed_since(tmp_path: Path) -> None:
    write(tmp_path, "u.py", "u = 1\n")
    write(tmp_path, "gone.py", "g = 1\n")
    async with serve(tmp_path) as client:
        done = await client.call_tool(
            "edit",
            {"changes": [_replace("u.py", "u = 1", "u = 2"), {"path": "gone.py", "action": "delete"}], "lint": False},
        )
        undone = await client.call_tool("undo_edit", {"edit_id": done.structured_content["edit_id"]})
        again = await client.call_tool("edit", {"changes": [_replace("u.py", "u = 1", "u = 5")], "lint": False})
        (tmp_path / "u.py").write_text("u = 6\n")
        refused = await client.call_tool("undo_edit", {"edit_id": again.structured_content["edit_id"]})
    assert not undone.is_error and (tmp_path / "gone.py").read_text() == "g = 1\n"
    assert refused.is_error and "changed since" in text_of(refused) and (tmp_path / "u.py").read_text() == "u = 6\n"


async def test_edits_stay_in_the_sandbox(tmp_path: Path) -> None:
    root, outside = tmp_path / "ws", tmp_path / "outside"
    write(outside, "o.py", "o = 1\n")
    write(root, ".env", "KEY=1\n")
    write(root, ".gitignore", "build/\n")
    write(root, "build/out.py", "b = 1\n")
    write(root, "img.png", b"\x89PNG\r\n\x1a\n\x00\x00binary")
    write(root, "real.py", "r = 1\n")
    os.symlink("real.py", root / "alias.py")
    os.symlink(outside / "o.py", root / "out_link.py")
    async with serve(root) as client:
        refusals = {
            name: await client.call_tool("edit", {"changes": [change], "lint": False})
            for name, change in {
                "escape": _replace("../outside/o.py", "o = 1", "o = 2"),
                "link out": _replace("out_link.py", "o = 1", "o = 2"),
                "denied": _replace(".env", "KEY=1", "KEY=2"),
                "ignored": _replace("build/out.py", "b = 1", "b = 2"),
                "new ignored": {"path": "build/new.py", "action": "create", "new": "x\n"},
                "new denied": {"path": "keys/id_rsa", "action": "create", "new": "x\n"},
                "binary": _replace("img.png", "PNG", "GIF"),
            }.items()
        }
        through_link = await client.call_tool(
            "edit", {"changes": [_replace("alias.py", "r = 1", "r = 2")], "lint": False}
        )
    for name, result in refusals.items():
        assert result.is_error and text_of(result).strip(), name
    assert (outside / "o.py").read_text() == "o = 1\n" and (root / ".env").read_text() == "KEY=1\n"
    assert not (root / "build/new.py").exists() and not (root / "keys").exists()
    assert (
        not through_link.is_error and (root / "alias.py").is_symlink() and (root / "real.py").read_text() == "r = 2\n"
    )


async def test_every_tool_sees_an_edit_at_once(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "def old_name():\n    return 1\n")
    async with serve(tmp_path) as client:
        await client.call_tool("list_dir", {})
        await client.call_tool("outline", {"path": "a.py"})
        await client.call_tool("read_file", {"path": "a.py"})
        await client.call_tool(
            "edit",
            {
                "changes": [
                    _replace("a.py", "old_name", "new_name"),
                    {"path": "b.py", "action": "create", "new": "def brand_new():\n    pass\n"},
                ],
                "lint": False,
            },
        )
        listing = text_of(await client.call_tool("list_dir", {}))
        outline = text_of(await client.call_tool("outline", {"path": "a.py"}))
        read = text_of(await client.call_tool("read_file", {"path": "a.py"}))
        found = text_of(await client.call_tool("find_symbol", {"name": "brand_new"}))
        grep = text_of(await client.call_tool("grep", {"pattern": "new_name|brand_new"}))
    assert "b.py" in listing and "new_name" in outline and "new_name" in read and "b.py" in found
    assert "a.py" in grep and "b.py" in grep


async def test_two_edits_of_one_file_in_flight_both_apply(tmp_path: Path) -> None:
    write(tmp_path, "c.py", "".join(f"line_{i} = {i}\n" for i in range(20)))
    async with serve(tmp_path) as client, anyio.create_task_group() as group:
        for i in range(20):
            change = _replace("c.py", f"line_{i} = {i}\n", f"line_{i} = {i * 10}\n")
            group.start_soon(client.call_tool, "edit", {"changes": [change], "lint": False})
    assert (tmp_path / "c.py").read_text() == "".join(f"line_{i} = {i * 10}\n" for i in range(20))


async def test_a_read_only_server_lists_no_tool_that_writes(tmp_path: Path) -> None:
    async with serve(tmp_path, "--read-only") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert "read_file" in names and not names & {"edit", "undo_edit", "fix_lint"}
    async with serve(tmp_path) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert tools["edit"].annotations.read_only_hint is False and tools["edit"].annotations.destructive_hint is True


def test_a_change_of_several_files_cut_by_a_crash_is_completed_at_the_next_start(tmp_path: Path) -> None:
    """The writer's journal said "committing" when the server died: every temporary file was whole, so the
    next server renames the rest into place before serving."""
    write(tmp_path, "one.py", "one = 1\n")
    write(tmp_path, "two.py", "two = 1\n")
    writes = [
        writer.Write(str(tmp_path / "one.py"), b"one = 2\n"),
        writer.Write(str(tmp_path / "two.py"), b"two = 2\n"),
    ]
    temps = {w.path: writer._temp_name(w.path, "crashtest", n) for n, w in enumerate(writes)}
    with writer._Directories(create=set()) as dirs:
        for w in writes:
            dirs.write(temps[w.path], w.content or b"", None)
    journal = writer._journal_path(str(tmp_path), "crashtest")
    writer._write_journal(journal, "committing", str(tmp_path), writes, temps)
    os.replace(temps[writes[0].path], writes[0].path)  # the first rename happened, then the crash
    listed = subprocess.run(
        [sys.executable, "-m", "volley", "call", "list_dir", "{}", "--workspace", str(tmp_path)],
        env=SERVER_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (tmp_path / "one.py").read_text() == "one = 2\n" and (tmp_path / "two.py").read_text() == "two = 2\n"
    assert ".volley-edit-" not in listed.stdout and not journal.exists()
    assert json.dumps("two.py")[1:-1] in listed.stdout


async def test_fix_lint_is_written_by_the_writer_and_can_be_undone(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[tool.ruff]\nfix = true\n[tool.ruff.lint]\nselect = ["F401"]\n')
    original = b"import json\r\nimport re\r\n\r\nprint(re)\r\n"
    write(tmp_path, "crlf.py", original)
    write(tmp_path, "clean.py", "print(1)\n")
    async with serve(tmp_path) as client:
        fixed = await client.call_tool("fix_lint", {})
        after_fix = (tmp_path / "crlf.py").read_bytes()
        undone = await client.call_tool("undo_edit", {"edit_id": fixed.structured_content["edit_id"]})
    assert fixed.structured_content["changed"] == ["crlf.py"], text_of(fixed)
    assert after_fix == b"import re\r\n\r\nprint(re)\r\n"
    assert not undone.is_error and (tmp_path / "crlf.py").read_bytes() == original
