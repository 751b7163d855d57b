"""Suite-wide settings: Qt offscreen, pylon camera emulation; every test leaves no trace (tests/support/hygiene.py).

A test fails on a Qt warning, on a record logged at ERROR or above (unless marked
`@pytest.mark.expected_errors("regex", ...)` matching its message), and on threads, top-level widgets or
active QTimers it leaves behind.
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYLON_CAMEMU", "1")

from tests.support import hygiene  # noqa: E402  (after the environment above)


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """Collect Qt messages and logged errors for the whole session, with one handler each."""
    # pytest-qt would replace the Qt message handler during each test; ours is the one check.
    if config.pluginmanager.has_plugin("_qt_logging"):
        config.pluginmanager.unregister(name="_qt_logging")
    hygiene.install()


@pytest.fixture(scope="session", autouse=True)
def user_cache_of_the_suite(tmp_path_factory):
    """The user's cache folder (the emulator's BMP copies, the bench's frames and models) in the suite's own
    temporary folder: the tests leave nothing in the cache of the person who runs them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("user-cache")))
        yield


@pytest.fixture(autouse=True)
def leaves_no_trace(request):
    """Fail a test that logs a Qt warning or an unexpected error, or leaves threads, windows or timers behind."""
    expected = [p for m in request.node.iter_markers("expected_errors") for p in m.args]
    before = hygiene.Snapshot()
    yield
    problems = before.problems(expected)
    if problems:
        pytest.fail("the test left a trace:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture
def tiny_model(tmp_path):
    """A real ONNX anomaly package (grey-level deviation) that runs in microseconds."""
    from tests.support.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path / "tiny")
