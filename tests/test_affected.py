"""run_tests(affected=true): the tests a change can affect, by the code each test ran when a run recorded it,
else by the import graph; widened when unsure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import serve, text_of, write
from volley.affected.pytest_plugins import choosing

pytestmark = pytest.mark.anyio


def _commit(root: Path, message: str) -> None:
    """Commit every change of the tree, new files included."""
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    who = ["-c", "user.email=a@b", "-c", "user.name=n"]
    subprocess.run(["git", *who, "commit", "-qm", message], cwd=root, check=True)


def _project(root: Path, repository: Path | None = None) -> Path:
    """A small project in ``root``, committed in a repository there (or at ``repository``, a folder above it)."""
    write(root, "pyproject.toml", '[tool.pytest.ini_options]\npythonpath = ["src"]\n')
    write(root, "src/pkg/__init__.py", "")
    write(root, "src/pkg/calc.py", "def add(a, b):\n    return a + b\n")
    write(root, "src/pkg/twice.py", "from .calc import add\n\n\ndef double(x):\n    return add(x, x)\n")
    write(root, "src/pkg/alone.py", "VALUE = 1\n")
    write(root, "tests/test_twice.py", "from pkg.twice import double\n\n\ndef test_2():\n    assert double(2) == 4\n")
    write(root, "tests/test_calc.py", "from pkg import calc\n\n\ndef test_add():\n    assert calc.add(1, 2) == 3\n")
    write(root, "tests/unit/test_other.py", "def test_other():\n    assert True\n")
    write(root, "tests/unit/conftest.py", "")
    write(root, "README.md", "words\n")
    write(root, "tests/data.json", "{}\n")
    subprocess.run(["git", "init", "-q"], cwd=repository or root, check=True)
    _commit(root, "init")
    return root


async def _affected(root: Path, **more: object) -> tuple[dict, str]:
    async with serve(root) as client:
        result = await client.call_tool("run_tests", {"affected": True, **more})
    assert not result.is_error, text_of(result)
    return result.structured_content, text_of(result)


async def test_a_changed_module_runs_the_tests_that_import_it_through_others(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "src/pkg/calc.py").write_text("def add(a, b):\n    return a - b\n")
    result, text = await _affected(root)
    assert text.startswith("affected (static: the import graph): 2 of 3 test files") and "pkg/calc.py" in text
    assert "no pytest run has recorded" in text
    assert result["failed"] == 2 and result["passed"] == 0  # both importers fail; test_other never ran


async def test_a_workspace_in_a_folder_of_its_repository_names_its_files_from_its_root(tmp_path: Path) -> None:
    """git names a subfolder's changes from that folder already: taking its prefix off again turned `src/pkg/calc.py`
    (in a workspace `src/` of the repository) into `pkg/calc.py`, a file that is not there."""
    root = _project(tmp_path / "src", repository=tmp_path)
    (root / "src/pkg/calc.py").write_text("def add(a, b):\n    return a - b\n")
    result, text = await _affected(root)
    assert text.startswith("affected (static: the import graph): 2 of 3 test files") and "src/pkg/calc.py" in text, text
    assert result["failed"] == 2 and result["passed"] == 0


async def test_an_untracked_virtual_environment_is_not_a_change(tmp_path: Path) -> None:
    """`python -m venv` before 3.13 writes no .gitignore into the environment: its thousands of files were
    untracked changes, data a test may read, and every selection was the whole suite; and the test files of
    the packages installed in it were the project's (pip vendors colorama's: a toolz checkout ran them)."""
    root = _project(tmp_path)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "env")], check=True)
    (root / "env/.gitignore").unlink(missing_ok=True)  # (3.13's venv writes one: `*`)
    write(root, "env/lib/site-packages/tool/data.json", "{}\n")
    write(root, "env/lib/site-packages/tool/tests/test_tool.py", "import pkg.calc\n\n\ndef test_tool():\n    pass\n")
    (root / "src/pkg/calc.py").write_text("def add(a, b):\n    return a - b\n")
    _, text = await _affected(root)
    assert text.startswith("affected (static: the import graph): 2 of 3 test files"), text


async def test_a_test_file_outside_the_configured_testpaths_is_not_the_suite(tmp_path: Path) -> None:
    """toolz sets `testpaths = ["toolz"]`; its bench/test_*.py are benchmarks, which pytest alone never runs:
    named to pytest by the selection, they ran (29 test files where its suite has 15)."""
    root = tmp_path / "ws"
    write(root, "pytest.ini", "[pytest]\npythonpath = src\ntestpaths = tests\n")  # (before pyproject.toml)
    write(root, "bench/test_speed.py", "from pkg import calc\n\n\ndef test_speed():\n    assert False\n")
    write(root, "sub/setup.cfg", "[tool:pytest]\npythonpath = ../src\ntestpaths = t*\n")  # a project of its own
    write(root, "sub/other/test_sub.py", "from pkg import calc\n\n\ndef test_sub():\n    assert False\n")
    write(root, "sub/tsub/test_in.py", "from pkg import calc\n\n\ndef test_in():\n    pass\n")
    _project(root)
    (root / "src/pkg/calc.py").write_text("def add(a, b):\n    return a - b\n")
    result, text = await _affected(root)
    assert text.startswith("affected (static: the import graph): 3 of 4 test files"), text
    assert result["failed"] == 2 and result["passed"] == 1, text  # test_calc, test_twice; sub/tsub/test_in.py


async def test_a_test_file_its_conftest_leaves_out_is_not_run(tmp_path: Path) -> None:
    """attrs leaves its tests for Python 3.14 out below 3.14 (`collect_ignore` in tests/conftest.py); pytest
    collects a file named on its command line whatever the conftest says: the selection, naming it, ran it and
    reported a failure `pytest` alone never shows. The suite runs as pytest collects it, less the rest."""
    root = tmp_path / "ws"
    write(root, "tests/conftest.py", 'collect_ignore = ["test_newer.py"]\ncollect_ignore_glob = ["*_later.py"]\n')
    write(root, "tests/test_newer.py", "from pkg import calc\n\n\ndef test_newer():\n    assert False\n")
    write(root, "tests/test_calc_later.py", "from pkg import calc\n\n\ndef test_later():\n    assert False\n")
    _project(root)
    (root / "src/pkg/calc.py").write_text("def add(a, b):\n    return a + b + 0\n")
    result, text = await _affected(root)
    assert text.startswith("affected (static: the import graph): 4 of 5 test files"), text
    assert (result["status"], result["passed"], result["failed"]) == ("passed", 2, 0), text  # test_calc, test_twice
    assert "test_other" not in result["output_tail"] + result["output_head"], text  # (nothing else ran either)


async def test_test_files_are_named_as_the_projects_python_files_says(tmp_path: Path) -> None:
    """Django's tests live in tests.py (`python_files = tests.py test_*.py`): the suite was 0 test files, and a
    change that broke both of a project's tests answered NO TESTS. A suite of no known test file runs whole."""
    root = tmp_path / "ws"
    write(root, "setup.cfg", "[tool:pytest]\npython_files = tests.py check_*.py\n")
    write(root, "app/__init__.py", "")
    write(root, "app/calc.py", "def add(a, b):\n    return a + b\n")
    write(root, "app/tests.py", "from app.calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n")
    write(root, "app/check_more.py", "from app.calc import add\n\n\ndef test_more():\n    assert add(2, 2) == 4\n")
    write(root, "app/test_not.py", "from app.calc import add\n\n\ndef test_not():\n    assert False\n")  # not one
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    _commit(root, "init")
    (root / "app/calc.py").write_text("def add(a, b):\n    return a - b\n")
    result, text = await _affected(root)
    assert text.startswith("affected (static: the import graph): 2 of 2 test files"), text
    assert (result["failed"], result["passed"]) == (2, 0), text


async def test_with_doctest_modules_a_changed_module_and_its_importers_run_their_doctests(tmp_path: Path) -> None:
    """`addopts = --doctest-modules`: each module is a test file too; its doctests were never chosen, so a change
    that broke them passed. The oracle: every test pytest alone fails over the whole suite is chosen."""
    root = _project(tmp_path)
    write(
        root, "pyproject.toml", '[tool.pytest.ini_options]\npythonpath = ["src"]\naddopts = "-ra --doctest-modules"\n'
    )
    write(root, "src/pkg/calc.py", 'def add(a, b):\n    """\n    >>> add(1, 2)\n    3\n    """\n    return a + b\n')
    doubled = '    """\n    >>> double(2)\n    4\n    """\n'
    write(root, "src/pkg/twice.py", f"from .calc import add\n\n\ndef double(x):\n{doubled}    return add(x, x)\n")
    _commit(root, "doctests")
    (root / "src/pkg/calc.py").write_text((root / "src/pkg/calc.py").read_text().replace("a + b", "a * b"))
    result, text = await _affected(root)
    assert "src/pkg/calc.py: 3 test files import it, directly or through other modules, and its doctests" in text
    whole = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=root, capture_output=True
    )
    failing = {line.split()[1] for line in whole.stdout.decode().splitlines() if line.startswith("FAILED ")}
    assert failing == {"src/pkg/calc.py::pkg.calc.add", "tests/test_calc.py::test_add"}, whole.stdout.decode()
    assert {f["test_id"] for f in result["failures"]} == failing, text


async def test_a_suite_of_no_known_test_file_runs_whole(tmp_path: Path) -> None:
    root = _project(tmp_path)
    for rel in ("tests/test_twice.py", "tests/test_calc.py", "tests/unit/test_other.py"):
        (root / rel).rename(root / rel.replace("test_", "check_"))  # (unittest's discovery finds test*.py)
    _commit(root, "renamed")
    (root / "src/pkg/calc.py").write_text("def add(a, b):\n    return a * b\n")
    result, text = await _affected(root)
    assert text.startswith("affected (static: the import graph): the whole suite: no file here is named"), text
    assert result["status"] == "no tests", text  # (pytest collects none either)


async def test_the_recorded_tests_of_a_deleted_test_file_are_not_chosen(tmp_path: Path) -> None:
    """They were: the run was refused (no such file: tests/test_calc.py::test_add)."""
    root = _project(tmp_path)
    async with serve(root, "--set", "test.record=always") as client:
        await client.call_tool("run_tests", {})
        (root / "tests/test_calc.py").unlink()
        (root / "src/pkg/calc.py").write_text("def add(a, b):\n    return a * b\n")
        chosen = await client.call_tool("run_tests", {"affected": True})
    assert not chosen.is_error, text_of(chosen)
    assert chosen.structured_content["chosen"] == ["tests/test_twice.py::test_2"], text_of(chosen)
    assert chosen.structured_content["passed"] == 1 and "1 test ran add" in text_of(chosen), text_of(chosen)


def test_single_tests_chosen_run_alone_and_a_name_covers_its_parameters_and_methods(tmp_path: Path) -> None:
    """The recorded way chooses single tests (node ids): the plugin keeps those of their files and deselects the
    rest, a test's name covering each of its parameters, a class's each of its methods, as on pytest's command line."""
    root = _project(tmp_path / "ws")
    write(root, "tests/test_calc.py", "def test_add():\n    pass\n\n\ndef test_sub():\n    assert False\n")
    write(
        root, "tests/test_p.py", "import pytest\n\n\n@pytest.mark.parametrize('x', [1, 2])\ndef test_p(x):\n    pass\n"
    )
    write(
        root,
        "tests/test_k.py",
        "class TestK:\n    def test_a(self):\n        pass\n\n    def test_b(self):\n        pass\n",
    )
    chosen = [
        "tests/test_calc.py::test_add",
        "tests/test_p.py::test_p",
        "tests/test_k.py::TestK",
        "tests/test_twice.py",
    ]
    argv, env = choosing(["pytest", "-q", "-rA"], {}, str(root), chosen, str(tmp_path))
    run = subprocess.run([sys.executable, "-m", *argv], cwd=root, env={**os.environ, **env}, capture_output=True)
    said = run.stdout.decode()
    assert "6 passed, 1 deselected" in said and "test_sub" not in said and "test_other" not in said, said


async def test_what_the_graph_cannot_attribute_widens_the_selection(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "tests/unit/conftest.py").write_text("import pytest\n")
    _, conftest = await _affected(root)
    assert "1 of 3 test files" in conftest and "every test below tests/unit" in conftest
    (root / "tests/data.json").write_text('{"a": 1}\n')
    _, data = await _affected(root)
    assert "the whole suite (3 test files)" in data and "tests/data.json is not code" in data
    subprocess.run(["git", "checkout", "-q", "--", "."], cwd=root, check=True)
    (root / "src/pkg/alone.py").write_text("VALUE = 2\n")
    _, alone = await _affected(root)
    assert "the whole suite" in alone and "no file imports it" in alone


async def test_prose_alone_runs_nothing_and_a_base_commit_can_be_named(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "README.md").write_text("other words\n")
    result, text = await _affected(root)
    assert result["status"] == "no tests" and "0 of 3 test files" in text
    (root / "src/pkg/twice.py").write_text("from .calc import add\n\n\ndef double(x):\n    return add(x, x) + 0\n")
    _commit(root, "twice")
    result, text = await _affected(root, since="HEAD~1")
    assert "1 of 3 test files" in text and result["passed"] == 1


async def test_files_that_failed_last_time_run_again(tmp_path: Path) -> None:
    """Also in the next session: the last run's failures are kept with the workspace's record."""
    root = _project(tmp_path)
    write(root, "tests/unit/test_other.py", "def test_other():\n    assert False\n")
    _commit(root, "fail")
    async with serve(root) as client:
        whole = await client.call_tool("run_tests", {})
    (root / "src/pkg/calc.py").write_text("def add(a, b):\n    return b + a\n")
    async with serve(root) as client:
        chosen = await client.call_tool("run_tests", {"affected": True})
    assert whole.structured_content["failed"] == 1
    assert "3 of 3 test files" in text_of(chosen) and "failed in the last run" in text_of(chosen)
    assert "the next runs do" in text_of(chosen)  # asked once: pytest runs record from now on (record = auto)


async def test_an_edit_can_run_the_tests_it_affects(tmp_path: Path) -> None:
    root = _project(tmp_path)
    change = {"path": "src/pkg/calc.py", "old": "a + b", "new": "a - b"}
    async with serve(root) as client:
        result = await client.call_tool("edit", {"changes": [change], "tests": "affected", "on_failure": "revert"})
    assert "affected (static: the import graph): 2 of 3 test files" in text_of(result)
    assert result.structured_content["reverted"]
    assert (root / "src/pkg/calc.py").read_text() == "def add(a, b):\n    return a + b\n"


def _recorded_project(root: Path) -> Path:
    _project(root)
    write(root, "src/pkg/calc.py", "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n")
    write(root, "src/pkg/setup.py", "def make():\n    return {'ready': True}\n\n\ndef at_import():\n    return 3\n")
    write(root, "src/pkg/early.py", "from pkg.setup import at_import\n\nTHREE = at_import()\n")
    write(root, "tests/test_calc.py", "from pkg import calc\n\n\ndef test_add():\n    assert calc.add(1, 2) == 3\n")
    write(root, "tests/test_sub.py", "from pkg.calc import sub\n\n\ndef test_sub():\n    assert sub(3, 2) == 1\n")
    fixture = "@pytest.fixture(scope='session')\ndef app():\n    return make()\n"
    write(root, "tests/conftest.py", f"import pytest\nfrom pkg.setup import make\n\n\n{fixture}")
    app = "def test_app(app):\n    assert app['ready'] and THREE\n"
    write(root, "tests/test_app.py", f"from pkg.early import THREE\n\n\n{app}")
    _commit(root, "more")
    return root


async def test_a_recorded_run_selects_the_tests_that_ran_the_changed_function(tmp_path: Path) -> None:
    root = _recorded_project(tmp_path)
    async with serve(root) as client:
        first = await client.call_tool("run_tests", {"affected": True})  # nothing recorded: the static way
        assert "recorded way not taken" in text_of(first) and "the next runs do" in text_of(first)
        whole = await client.call_tool("run_tests", {})  # record = auto: affected was asked, so this records
        assert whole.structured_content["passed"] == 5, text_of(whole)
        (root / "src/pkg/calc.py").write_text(
            "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return b - a\n"
        )
        body = await client.call_tool("run_tests", {"affected": True})
        assert "affected (recorded: the code each test ran): 1 test " in text_of(body), text_of(body)
        assert "src/pkg/calc.py: 1 test ran sub" in text_of(body)
        assert body.structured_content["failed"] == 1 and body.structured_content["passed"] == 0
        assert body.structured_content["chosen"][-1] == "tests/test_sub.py::test_sub"

        calc = "LIMIT = {}\n\n\ndef add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return (a - b) * LIMIT\n"
        (root / "src/pkg/calc.py").write_text(calc.format(1))
        await client.call_tool("run_tests", {})  # recorded again: sub now reads LIMIT
        (root / "src/pkg/calc.py").write_text(calc.format(2))
        module = await client.call_tool("run_tests", {"affected": True})  # code outside functions: by its names
        said = "src/pkg/calc.py: no function changed; code outside its functions binds LIMIT; "
        said += "1 test ran code that uses LIMIT"
        assert said in text_of(module), text_of(module)
        assert module.structured_content["chosen"][-1] == "tests/test_sub.py::test_sub"
        assert module.structured_content["failed"] == 1 and module.structured_content["passed"] == 0
        (root / "src/pkg/calc.py").write_text(calc.format(1))
        await client.call_tool("run_tests", {})  # no failure left to run again
        (root / "src/pkg/calc.py").write_text("VERSION = 3\n" + calc.format(1))
        unused = await client.call_tool("run_tests", {"affected": True})  # a name no test's code mentions
        assert "binds VERSION; 0 tests ran code that uses VERSION" in text_of(unused), text_of(unused)
        assert unused.structured_content["status"] == "no tests"
        (root / "src/pkg/calc.py").write_text("import os\n\nos.environ['MODE'] = 'x'\n" + calc.format(1))
        opaque = await client.call_tool("run_tests", {"affected": True})  # an effect without a name: the graph
        said = "code outside its functions changed (it changes the module os); 3 test files import it"
        assert said in text_of(opaque), text_of(opaque)


async def test_a_changed_class_reaches_the_tests_through_subclasses_and_aliases(tmp_path: Path) -> None:
    root = _project(tmp_path)
    shapes = "class Base{}:\n    sides = 0\n\n    def count(self):\n        return self.sides\n\n\n"
    shapes += "class Square(Base):\n    sides = 4\n\n\nclass Circle:\n    sides = 0\n"
    write(root, "src/pkg/shapes.py", shapes.format(""))
    uses = "from pkg.shapes import Circle\nfrom pkg.shapes import Square as Sq\n\n\n"
    uses += "def test_square():\n    assert Sq().count() == 4\n\n\ndef test_circle():\n    assert Circle.sides == 0\n"
    write(root, "tests/test_shapes.py", uses)
    _commit(root, "shapes")
    async with serve(root, "--set", "test.record=always") as client:
        await client.call_tool("run_tests", {})
        (root / "src/pkg/shapes.py").write_text(shapes.format("(dict)"))
        based = await client.call_tool("run_tests", {"affected": True})
        assert "binds Base; 1 test ran code that uses Base, Sq, Square" in text_of(based), text_of(based)
        assert based.structured_content["chosen"][-1] == "tests/test_shapes.py::test_square"
        (root / "src/pkg/shapes.py").write_text(shapes.format("").replace("sides = 4", "sides = 5"))
        attribute = await client.call_tool("run_tests", {"affected": True})  # read as self.sides in Base.count
        assert "1 test ran code that uses Base, Sq, Square" in text_of(attribute), text_of(attribute)
        assert attribute.structured_content["chosen"][-1] == "tests/test_shapes.py::test_square"  # not Circle.sides
        assert attribute.structured_content["failed"] == 1


async def test_code_a_session_fixture_or_an_import_ran_widens_the_recorded_selection(tmp_path: Path) -> None:
    root = _recorded_project(tmp_path)
    async with serve(root, "--set", "test.record=always") as client:
        await client.call_tool("run_tests", {})
        setup = root / "src/pkg/setup.py"
        setup.write_text(setup.read_text().replace("return 3", "return 0"))
        imported = await client.call_tool("run_tests", {"affected": True})
        said = "at_import ran at import; 1 test ran code that uses THREE, at_import"  # THREE = at_import()
        assert said in text_of(imported), text_of(imported)
        assert imported.structured_content["failed"] == 1 and imported.structured_content["passed"] == 0
        subprocess.run(["git", "checkout", "-q", "--", "."], cwd=root, check=True)
        await client.call_tool("run_tests", {})  # recorded again on the original
        setup.write_text(setup.read_text().replace("'ready': True", "'ready': False"))
        session = await client.call_tool("run_tests", {"affected": True})
        assert "a session fixture ran make: the whole suite" in text_of(session), text_of(session)


async def test_a_registration_at_import_reaches_the_tests_that_read_the_registry(tmp_path: Path) -> None:
    """`@register` (a plain function) fills a dict at import: a test that only iterates the dict never mentions
    the registered function, yet a change of the registration changes its outcome."""
    root = _project(tmp_path)
    registry = "HANDLERS = {}\n\n\ndef register(f):\n    HANDLERS[f.__name__] = f\n    return f\n"
    write(root, "src/pkg/registry.py", registry)
    write(root, "src/pkg/handlers.py", "from pkg.registry import register\n\n\n@register\ndef hello():\n    return 1\n")
    every = "import pkg.handlers\nfrom pkg.registry import HANDLERS\n\n\ndef test_every():\n"
    write(root, "tests/test_registry.py", every + "    assert len(HANDLERS) == 1\n")
    _commit(root, "registry")
    async with serve(root, "--set", "test.record=always") as client:
        await client.call_tool("run_tests", {})
        (root / "src/pkg/handlers.py").write_text("def hello():\n    return 1\n")  # no longer registered
        chosen = await client.call_tool("run_tests", {"affected": True})
        assert chosen.structured_content["failed"] == 1, text_of(chosen)
        assert "HANDLERS" in text_of(chosen)


async def test_a_name_bound_at_import_selects_the_code_of_its_own_module_and_its_importers(tmp_path: Path) -> None:
    """A bare name is its module's: a changed `import os` (or `from typing import Any`) in one module reaches
    the code that reads `os` there, not every module that imports os of its own (click's 3b16957cba selected
    its whole suite that way). A name imported from the workspace's module is followed to its importers."""
    root = _project(tmp_path)
    here = "import os\nfrom typing import Any\n\nSEP = os.sep\n\n\ndef where() -> Any:\n    return os.sep\n"
    write(root, "src/pkg/here.py", here)
    there = "import os\nfrom typing import Any\n\n\ndef cwd() -> Any:\n    return os.getcwd()\n"
    write(root, "src/pkg/there.py", there)
    write(root, "tests/test_here.py", "from pkg.here import where\n\n\ndef test_where():\n    assert where()\n")
    write(root, "tests/test_there.py", "from pkg.there import cwd\n\n\ndef test_cwd():\n    assert cwd()\n")
    write(root, "tests/test_sep.py", "from pkg.here import SEP\n\n\ndef test_sep():\n    assert SEP\n")
    _commit(root, "here and there")
    async with serve(root, "--set", "test.record=always") as client:
        await client.call_tool("run_tests", {})
        changed = here.replace("import os\n", "import os, sys\n").replace("import Any", "import Any, List")
        (root / "src/pkg/here.py").write_text(changed)
        chosen = await client.call_tool("run_tests", {"affected": True})
        assert chosen.structured_content["passed"] == 2, text_of(chosen)
        said = text_of(chosen)
        assert "2 tests ran code that uses" in said and "test_there" not in said, said
        assert sorted(chosen.structured_content["chosen"][-2:]) == [
            "tests/test_here.py::test_where",
            "tests/test_sep.py::test_sep",
        ], said


async def test_a_module_getattr_that_is_gone_reaches_the_tests_that_called_it(tmp_path: Path) -> None:
    """A removed module `__getattr__` is seen only by code that called it, which ran its body: those tests, not
    every importer (itsdangerous's 4bb03cd681 removed the one that served `__version__`). One that is added
    may answer any name: the import graph decides."""
    root = _project(tmp_path)
    old = "def __getattr__(name):\n    if name == 'OLD':\n        return 1\n    raise AttributeError(name)\n"
    write(root, "src/pkg/names.py", f"NEW = 2\n\n\n{old}")
    # `import pkg.names`: pytest's collection asks a module in a test module's namespace for fixture markers
    # (`names._fixture_function_marker`), which runs its __getattr__ at import: the import graph decides then
    write(root, "tests/test_old.py", "import pkg.names\n\n\ndef test_old():\n    assert pkg.names.OLD == 1\n")
    write(root, "tests/test_new.py", "import pkg.names\n\n\ndef test_new():\n    assert pkg.names.NEW == 2\n")
    _commit(root, "names")
    async with serve(root, "--set", "test.record=always") as client:
        await client.call_tool("run_tests", {})
        (root / "src/pkg/names.py").write_text("NEW = 2\n")
        gone = await client.call_tool("run_tests", {"affected": True})
        assert "1 test ran __getattr__" in text_of(gone), text_of(gone)
        assert gone.structured_content["chosen"] == ["tests/test_old.py::test_old"]
        assert gone.structured_content["failed"] == 1 and gone.structured_content["passed"] == 0
        subprocess.run(["git", "checkout", "-q", "--", "."], cwd=root, check=True)
        await client.call_tool("run_tests", {})  # recorded again, with __getattr__
        (root / "src/pkg/names.py").write_text(f"NEW = 2\n\n\n{old.replace('OLD', 'OTHER')}\n\n\n{old}")
        added = await client.call_tool("run_tests", {"affected": True})  # a second one: the import graph
        assert "it defines the module's __getattr__" in text_of(added), text_of(added)


async def test_each_test_is_recorded_whatever_core_the_project_asks_coverage_for(tmp_path: Path) -> None:
    """coverage's sys.monitoring core (COVERAGE_CORE=sysmon, Python 3.14's default) reports a line once, to the
    first test that runs it: the second test that ran `add` was missing from the record, so a change of `add`
    skipped it. The recording asks for the tracing core, which switches contexts per test. (coverage.py records
    before Python 3.12, or when asked as here; sys.monitoring's own recorder is the next test's.)"""
    root = _project(tmp_path)
    both = "from pkg.calc import add\n\n\ndef test_first():\n    assert add(1, 1) == 2\n\n\n"
    write(root, "tests/test_both.py", both + "def test_second():\n    assert add(2, 2) == 4\n")
    _commit(root, "both")
    async with serve(
        root, "--set", "test.record=always", env={"COVERAGE_CORE": "sysmon", "VOLLEY_RECORD_WITH": "coverage"}
    ) as client:
        await client.call_tool("run_tests", {})
        (root / "src/pkg/calc.py").write_text("def add(a, b):\n    return a * b\n")
        chosen = await client.call_tool("run_tests", {"affected": True})
        said = text_of(chosen)
        assert "recorded" in said and "4 tests ran add" in said, said  # test_2 and test_add ran it too
        assert chosen.structured_content["failed"] == 2 and chosen.structured_content["passed"] == 2, said


async def test_each_function_a_test_started_or_resumed_is_recorded_without_coverage_py(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """On Python 3.12+ the record is sys.monitoring's: the functions each test started or resumed, with no
    coverage.py in the project's environment. Two files' identical functions are two functions (their code objects
    compare equal), a generator one test started and the next resumed (or threw into) was run by both, and a
    thread's loop that began before a test ran in it."""
    root = _project(tmp_path)
    same = "def value():\n    return 1\n"
    write(root, "src/pkg/one.py", same)
    write(root, "src/pkg/two.py", same)
    tests = "from pkg import one, two\n\n\ndef test_one():\n    assert one.value() == 1\n\n\n"
    write(root, "tests/test_same.py", tests + "def test_two():\n    assert two.value() == 1\n")
    counter = "def counter():\n    n = 0\n    while True:\n        yield n\n        n += 1\n"
    guarded = "def guarded():\n    try:\n        yield 1\n    except KeyError:\n        yield 2\n"
    write(root, "src/pkg/gen.py", counter + "\n\n" + guarded)
    gen = "from pkg.gen import counter, guarded\n\nCOUNT, G = counter(), guarded()\n\n\n"
    gen += "def test_start():\n    assert next(COUNT) == 0 and next(G) == 1\n\n\n"
    gen += "def test_resume():\n    assert next(COUNT) == 1\n\n\ndef test_throw():\n    assert G.throw(KeyError) == 2\n"
    write(root, "tests/test_gen.py", gen)
    worker = "import queue\nimport threading\n\nJOBS, DONE = queue.Queue(), queue.Queue()\n\n\ndef serve():\n"
    worker += "    while True:\n        DONE.put(JOBS.get() * 2)\n\n\n"
    worker += "def start():\n    if not STARTED:\n        STARTED.append(threading.Thread(target=serve, daemon=True))\n"
    worker += "        STARTED[0].start()\n\n\nSTARTED = []\n"
    write(root, "src/pkg/worker.py", worker)
    uses = "from pkg.worker import DONE, JOBS, start\n\n\ndef test_start():\n    start()\n\n\n"
    uses += "def test_double():\n    start()\n    JOBS.put(2)\n    assert DONE.get(timeout=30) == 4\n"  # (a hang guard)
    write(root, "tests/test_worker.py", uses)
    _commit(root, "same and gen")
    shadow = tmp_path_factory.mktemp("shadow")
    write(shadow, "coverage/__init__.py", "raise ImportError('no coverage.py here')\n")
    bare = {"PYTHONPATH": str(shadow), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # testmon's plugin needs coverage.py
    async with serve(root, "--set", "test.record=always", env=bare) as client:
        whole = await client.call_tool("run_tests", {})
        assert whole.structured_content["passed"] == 10, text_of(whole)
        (root / "src/pkg/two.py").write_text("def value():\n    return 2\n")
        two = await client.call_tool("run_tests", {"affected": True})
        assert "src/pkg/two.py: 1 test ran value" in text_of(two), text_of(two)
        assert two.structured_content["chosen"][-1] == "tests/test_same.py::test_two", text_of(two)
        (root / "src/pkg/two.py").write_text(same)
        (root / "src/pkg/gen.py").write_text(counter.replace("n += 1", "n = n + 1") + "\n\n" + guarded)
        resumed = await client.call_tool("run_tests", {"affected": True})
        assert "src/pkg/gen.py: 2 tests ran counter" in text_of(resumed), text_of(resumed)
        assert {"tests/test_gen.py::test_start", "tests/test_gen.py::test_resume"} <= set(
            resumed.structured_content["chosen"]
        )
        (root / "src/pkg/gen.py").write_text(counter + "\n\n" + guarded.replace("yield 2", "yield 3"))
        (root / "src/pkg/worker.py").write_text(worker.replace("* 2", "* 3"))
        looped = await client.call_tool("run_tests", {"affected": True})  # a loop one test started, run in the next
        assert "tests/test_worker.py::test_double" in looped.structured_content["chosen"], text_of(looped)
        assert "tests/test_gen.py::test_throw" in looped.structured_content["chosen"], text_of(looped)  # thrown into


def test_a_module_too_deeply_nested_for_pythons_parser_imports_nothing_it_can_name() -> None:
    """The parser's stack overflows on 20,000 nested lambdas (a MemoryError, which failed the selection)."""
    from volley.affected import _dotted_imports

    source = b"import os\ny = " + b"lambda: " * 20_000 + b"1\n"
    assert _dotted_imports(source, "pkg/deep.py") == ()
