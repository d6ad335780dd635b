"""A pytest plugin Volley loads (``-p volley_record``) to record which code each test runs.

It runs inside the project's own interpreter and imports nothing of Volley's. On Python 3.12+ it records the
functions each test started (``volley_monitor``, on sys.monitoring); before 3.12 (or with
``VOLLEY_RECORD_WITH=coverage``), where the interpreter has coverage.py, every line run under the workspace with
the test that ran it (a coverage context named by the test's node id). Fixtures of a wider scope are set up
under a context of their own (``@module:<file>`` or ``@session``), since every test of that scope depends on
them; code run outside any test (imports, collection) is under the empty context. With neither, or with
coverage.py beside pytest-cov (one tracer at a time), it records nothing and says so in
``VOLLEY_RECORD_DIR/status``; the run itself is unchanged.
"""

from __future__ import annotations

import contextlib
import os

import pytest
from volley_monitor import Monitor  # type: ignore[import-not-found]  # beside it on PYTHONPATH, not in volley

_OUT = os.environ.get("VOLLEY_RECORD_DIR", "")
_ROOT = os.environ.get("VOLLEY_RECORD_ROOT", "")


def _status(text: str) -> None:
    if _OUT:
        with open(os.path.join(_OUT, "status"), "w") as f:
            f.write(text)


def _start():  # type: ignore[no-untyped-def]
    if not (_OUT and _ROOT):
        return None
    if os.environ.get("VOLLEY_RECORD_WITH") != "coverage" and Monitor.available():
        return Monitor(_ROOT, _OUT)
    try:
        import coverage
    except ImportError:
        _status("no coverage.py for this interpreter")
        return None
    asked = os.environ.pop("COVERAGE_CORE", None)  # coverage < 7.9 reads the core from here alone
    try:
        measure = coverage.Coverage(
            data_file=os.path.join(_OUT, "data"),
            data_suffix=True,  # one file per process: pytest-xdist's workers load this plugin too
            config_file=False,
            source=[_ROOT],
            omit=["*/site-packages/*", "*/dist-packages/*"],
        )
        # the tracing core: sys.monitoring's (3.14's default) reports a line to the first test alone; coverage
        # before 7.9 has no such option, and its default core traces
        with contextlib.suppress(Exception):
            measure.set_option("run:core", "ctrace")
        measure.start()
    finally:
        if asked is not None:
            os.environ["COVERAGE_CORE"] = asked  # the tests' own subprocesses see the project's setting
    return measure


_RECORDER = _start()


def pytest_configure(config: pytest.Config) -> None:
    if _OUT:
        with open(os.path.join(_OUT, "rootdir"), "w") as f:
            f.write(str(config.rootpath))
    traced = _RECORDER is not None and not isinstance(_RECORDER, Monitor)  # coverage.py's: one tracer at a time
    if traced and config.pluginmanager.hasplugin("_cov") and getattr(config.option, "cov_source", None):
        _status("pytest-cov measures this run: it takes the tracer")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    if _RECORDER is not None:
        _RECORDER.switch_context(item.nodeid)
    yield
    if _RECORDER is not None:
        _RECORDER.switch_context("")


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef, request):  # type: ignore[no-untyped-def]
    if _RECORDER is None or fixturedef.scope == "function":
        yield
        return
    test = getattr(request, "node", None)
    owner = getattr(test, "nodeid", "") or ""
    wide = "@session" if fixturedef.scope in ("session", "package") else f"@module:{owner.split('::', 1)[0]}"
    _RECORDER.switch_context(wide)
    yield
    current = getattr(request, "_pyfuncitem", None)
    _RECORDER.switch_context(getattr(current, "nodeid", "") or "")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _RECORDER is not None:
        _RECORDER.stop()
        _RECORDER.save()
