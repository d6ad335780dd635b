"""vitest really runs (installed with the MCP Inspector by `npm ci --prefix .ci`): counts and locations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import serve, write

pytestmark = pytest.mark.anyio
MODULES = Path(__file__).resolve().parent.parent / ".ci" / "node_modules"
if not (MODULES / ".bin" / "vitest").exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"vitest is not installed in {MODULES}; .ci/run installs it")
    pytest.skip("vitest is not installed (npm ci --prefix .ci)", allow_module_level=True)

TESTS = """\
import { test, expect } from "vitest";
import { add } from "./math.js";

test("adds", () => {
  expect(add(1, 2)).toBe(3);
});

test("fails", () => {
  expect(add(1, 1)).toBe(3);
});

test("fails in helper", () => {
  add(-1, 0);
});
"""
MATH = 'export function add(a, b) {\n  if (a < 0) {\n    throw new Error("negative");\n  }\n  return a + b;\n}\n'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path, "package.json", '{"name": "vt", "private": true, "type": "module"}\n')
    write(tmp_path, "src/math.test.js", TESTS)
    write(tmp_path, "src/math.js", MATH)
    os.symlink(MODULES, tmp_path / "node_modules")
    return tmp_path


async def test_vitest_failures_open_the_failing_line_in_the_workspace(project: Path) -> None:
    async with serve(project) as client:
        result = await client.call_tool("run_tests", {})
        fast = await client.call_tool("run_tests", {"fail_fast": True})
    data = result.structured_content
    assert (data["runner"], data["passed"], data["failed"]) == ("vitest", 1, 2)
    where = {f["test_id"]: (f["path"], f["line"]) for f in data["failures"]}
    assert where == {"fails": ("src/math.test.js", 9), "fails in helper": ("src/math.js", 3)}
    assert fast.structured_content["status"] == "failed"  # --bail=1 is accepted (a bare --bail crashed)


async def test_vitest_a_file_that_fails_to_load_is_an_error_with_its_reason(project: Path) -> None:
    write(project, "src/broken.test.js", 'import { missing } from "no-such-package";\nimport { test } from "vitest";\n')
    async with serve(project) as client:
        data = (await client.call_tool("run_tests", {})).structured_content
    assert (data["passed"], data["failed"], data["errors"], data["status"]) == (1, 2, 1, "failed")
    broken = [f for f in data["failures"] if f["kind"] == "error"]
    assert [(f["path"], f["test_id"]) for f in broken] == [("src/broken.test.js", "src/broken.test.js")]
    assert "no-such-package" in broken[0]["message"]


JEST_TESTS = """\
const { add } = require("./math.cjs");

test("adds", () => {
  expect(add(1, 2)).toBe(3);
});

test("fails", () => {
  expect(add(1, 1)).toBe(3);
});

test("sees the arguments jest was started with", () => {
  expect(process.argv.slice(2)).toEqual([]);
});
"""


async def test_jest_a_failing_test_is_counted_and_its_flags_are_out_of_sight(tmp_path: Path) -> None:
    """jest's code frames on stderr came before the JSON (the suite was CRASHED, 0 passed); and the tests
    saw Volley's --json in process.argv (a CLI library's tests parse it and exit)."""
    write(tmp_path, "package.json", '{"name": "jt", "private": true}\n')
    write(tmp_path, "src/math.test.js", JEST_TESTS)
    write(tmp_path, "src/math.cjs", "exports.add = (a, b) => a + b;\n")
    os.symlink(MODULES, tmp_path / "node_modules")
    async with serve(tmp_path) as client:
        data = (await client.call_tool("run_tests", {"runner": "jest"})).structured_content
    assert (data["runner"], data["status"], data["passed"], data["failed"]) == ("jest", "failed", 2, 1)
    (failure,) = data["failures"]
    assert (failure["test_id"], failure["path"], failure["line"]) == ("fails", "src/math.test.js", 8)
    assert "\x1b[" not in failure["message"] + failure["traceback"]  # no colour codes


NODE_TESTS = """\
const test = require("node:test");
const assert = require("node:assert");

test("adds", () => {
  assert.strictEqual(1 + 1, 2);
});

test("fails", () => {
  assert.strictEqual(1 + 1, 3);
});

test.skip("later", () => {});

test.describe("group", () => {
  test.it("inner passes", () => {});
});
"""


async def test_node_test_runner_counts_locates_and_takes_targets(tmp_path: Path) -> None:
    """`"test": "node --test"` was read as "0 passed" (passing) or CRASHED (failing), and targets were ignored."""
    write(tmp_path, "package.json", '{"name": "nt", "private": true, "scripts": {"test": "node --test"}}\n')
    write(tmp_path, "test/a.test.js", NODE_TESTS)
    write(tmp_path, "test/b.test.js", 'require("node:test")("b passes", () => {});\n')
    async with serve(tmp_path) as client:
        everything = (await client.call_tool("run_tests", {})).structured_content
        one = (await client.call_tool("run_tests", {"targets": ["test/b.test.js"]})).structured_content
    counts = (everything["runner"], everything["passed"], everything["failed"], everything["skipped"])
    assert counts == ("node --test", 3, 1, 1) and everything["status"] == "failed"
    (failure,) = everything["failures"]
    assert (failure["test_id"], failure["path"], failure["line"]) == ("fails", "test/a.test.js", 9)
    assert (one["status"], one["passed"], one["failed"]) == ("passed", 1, 0)


@pytest.mark.slow  # (a long one: make test-slow, which CI runs too)
async def test_tsc_and_biome_are_run_where_the_project_has_them(tmp_path: Path) -> None:
    """A TypeScript project with tsconfig.json and biome.json: both linters, each equal to its own report."""
    write(tmp_path, "package.json", '{"name": "ts", "private": true}\n')
    write(tmp_path, "tsconfig.json", '{"compilerOptions": {"strict": true, "noEmit": true}, "include": ["src"]}\n')
    write(tmp_path, "biome.json", "{}\n")
    write(tmp_path, "src/a.ts", 'const x: number = "a";\nexport function f(a) {\n  return a;\n}\nlet unused = 1;\n')
    os.symlink(MODULES, tmp_path / "node_modules")
    async with serve(tmp_path) as client:
        data = (await client.call_tool("run_linter", {})).structured_content
    found = {(d["tool"], d["line"], d["code"]) for d in data["diagnostics"]}
    assert {("tsc", 1, "TS2322"), ("tsc", 2, "TS7006")} <= found
    assert ("biome", 5, "lint/correctness/noUnusedVariables") in found
    assert {r["linter"]: r["status"] for r in data["runs"]} == {"tsc": "findings", "biome": "findings"}


async def test_eslint_fixes_are_written_by_the_writer_and_can_be_undone(tmp_path: Path) -> None:
    """fix_lint asks eslint with --fix-dry-run and writes its fixed text through edit's writer: CRLF kept, a
    file the read tools do not see (ignored) not written, undo_edit restores."""
    write(tmp_path, "package.json", '{"name": "fx", "private": true, "type": "module"}\n')
    write(tmp_path, "eslint.config.js", 'export default [{ rules: { semi: "error" } }];\n')
    original = b"const a = 1\r\nconsole.log(a)\r\n"
    write(tmp_path, "app.js", original)
    write(tmp_path, ".gitignore", "build/\n")
    write(tmp_path, "build/out.js", "const b = 2\n")
    os.symlink(MODULES, tmp_path / "node_modules")
    async with serve(tmp_path) as client:
        fixed = await client.call_tool("fix_lint", {"linter": "eslint"})
        after_fix = (tmp_path / "app.js").read_bytes()
        undone = await client.call_tool("undo_edit", {"edit_id": fixed.structured_content["edit_id"]})
    assert fixed.structured_content["changed"] == ["app.js"], fixed.content
    assert after_fix == b"const a = 1;\r\nconsole.log(a);\r\n"
    assert (tmp_path / "build/out.js").read_text() == "const b = 2\n"
    assert not undone.is_error and (tmp_path / "app.js").read_bytes() == original


async def test_packages_of_a_workspace_run_in_their_folders_with_the_hoisted_runner(tmp_path: Path) -> None:
    write(tmp_path, "package.json", '{"name": "mono", "private": true, "workspaces": ["packages/*"]}\n')
    os.symlink(MODULES, tmp_path / "node_modules")  # hoisted: the packages have none of their own
    for name in ("a", "b"):
        package = f'{{"name": "{name}", "type": "module", "scripts": {{"test": "vitest run"}}}}\n'
        write(tmp_path, f"packages/{name}/package.json", package)
        write(tmp_path, f"packages/{name}/src/math.test.js", TESTS)
        write(tmp_path, f"packages/{name}/src/math.js", MATH)
    targets = ["packages/a/src/math.test.js", "packages/b/src"]
    async with serve(tmp_path) as client:
        result = await client.call_tool("run_tests", {"targets": targets, "runner": "vitest"})
    data = result.structured_content
    assert (data["passed"], data["failed"]) == (2, 4), data
    where = sorted((f["path"], f["line"]) for f in data["failures"])
    assert where == [
        ("packages/a/src/math.js", 3),
        ("packages/a/src/math.test.js", 9),
        ("packages/b/src/math.js", 3),
        ("packages/b/src/math.test.js", 9),
    ]
    assert sorted(line.split(":")[0] for line in data["projects"]) == ["packages/a", "packages/b"]


async def test_affected_runs_the_test_files_that_import_a_changed_module(tmp_path: Path) -> None:
    import subprocess

    write(tmp_path, "package.json", '{"name": "vt", "private": true, "type": "module"}\n')
    write(tmp_path, "src/math.js", MATH)
    write(tmp_path, "src/twice.js", 'import { add } from "./math.js";\nexport const twice = (x) => add(x, x);\n')
    write(tmp_path, "src/other.js", "export const one = () => 1;\n")
    check = (
        'import {{ test, expect }} from "vitest";\nimport {{ {0} }} from "./{1}.js";\ntest("{0}", () => {{ {2} }});\n'
    )
    write(tmp_path, "src/twice.test.js", check.format("twice", "twice", "expect(twice(2)).toBe(4);"))
    write(tmp_path, "src/other.test.js", check.format("one", "other", "expect(one()).toBe(1);"))
    os.symlink(MODULES, tmp_path / "node_modules")
    write(tmp_path, ".gitignore", "node_modules\n")
    for command in (["init", "-q"], ["add", "-A"], ["-c", "user.email=a@b", "-c", "user.name=n", "commit", "-qm", "i"]):
        subprocess.run(["git", *command], cwd=tmp_path, check=True)
    write(tmp_path, "src/math.js", MATH.replace("return a + b", "return a - b"))
    async with serve(tmp_path) as client:
        result = await client.call_tool("run_tests", {"affected": True})
    data = result.structured_content
    assert data["selection"].startswith("affected (static: the import graph): 1 of 2 test files"), data
    assert "src/math.js: 1 test file imports it" in data["selection"]
    assert (data["runner"], data["passed"], data["failed"]) == ("vitest", 0, 1)
