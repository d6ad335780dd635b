"""cargo test really runs (when cargo is installed): doc-tests run after a failing binary and are listed,
each failure at its panic with the assertion's message, targets select test binaries."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import serve, write

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo not installed")]

LIB = """\
/// Adds.
///
/// ```
/// assert_eq!(crt::add(1, 1), 3);
/// ```
pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[cfg(test)]
mod tests {
    #[test]
    fn passes() {
        assert_eq!(super::add(1, 2), 3);
    }

    #[test]
    fn fails() {
        let value = super::add(1, 1);
        assert_eq!(value, 3, "one and one");
    }
}
"""


async def test_cargo_runs_every_binary_and_the_doc_tests_and_takes_targets(tmp_path: Path) -> None:
    write(tmp_path, "Cargo.toml", '[package]\nname = "crt"\nversion = "0.1.0"\nedition = "2021"\n')
    write(tmp_path, "src/lib.rs", LIB)
    write(tmp_path, "tests/integration.rs", "#[test]\nfn integrates() {\n    assert_eq!(crt::add(2, 2), 4);\n}\n")
    async with serve(tmp_path, env={"RUST_BACKTRACE": "0"}) as client:
        data = (await client.call_tool("run_tests", {})).structured_content
        one = (await client.call_tool("run_tests", {"targets": ["tests/integration.rs"]})).structured_content
    assert (data["status"], data["passed"], data["failed"]) == ("failed", 2, 2)  # the doc-test ran too
    where = {f["test_id"]: (f["path"], f["line"], f["message"]) for f in data["failures"]}
    assert where["tests::fails"] == (
        "src/lib.rs",
        20,
        "assertion `left == right` failed: one and one; left: 2; right: 3",
    )
    assert where["src/lib.rs - add (line 3)"][0] == "src/lib.rs"
    assert (one["status"], one["passed"], one["failed"]) == ("passed", 1, 0)
