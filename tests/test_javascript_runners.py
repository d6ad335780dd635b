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
