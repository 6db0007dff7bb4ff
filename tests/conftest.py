"""Fixtures: a session-scoped redis-server with Respite in front of it, per-test
process groups for special flags, and Respite's log attached to failing tests.

RESPITE_TARGET=direct points every `proxy` at redis-server itself, to validate
the tests; tests marked `respite_only` are skipped then."""

import pytest

import harness
from harness import DIRECT, Procs, make_target

_ACTIVE: list = []  # Procs groups alive right now, for logs on failure


def pytest_configure(config):
    config.addinivalue_line("markers", "respite_only: tests Respite-specific behaviour (skipped with RESPITE_TARGET=direct)")
    harness.raise_fd_limit()


def pytest_collection_modifyitems(config, items):
    if not DIRECT:
        return
    skip = pytest.mark.skip(reason="Respite-specific; RESPITE_TARGET=direct")
    for item in items:
        if "respite_only" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and not DIRECT:
        logs = "\n".join(p.logs() for p in _ACTIVE if p.logs())
        if logs:
            rep.sections.append(("respite stderr", logs))


@pytest.fixture(scope="session")
def session_procs():
    p = Procs("session")
    _ACTIVE.append(p)
    yield p
    _ACTIVE.remove(p)
    p.stop_all()


@pytest.fixture(scope="session")
def target(session_procs):
    """The shared redis-server + Respite (with a unix socket)."""
    return make_target(session_procs, unixsocket=True)


@pytest.fixture(autouse=True)
def _session_respite_guard(request):
    """Restart the shared Respite if an earlier test killed it; fail the test that kills it."""
    if DIRECT or not ({"proxy", "target"} & set(request.fixturenames)):
        yield
        return
    t = request.getfixturevalue("target")
    procs = request.getfixturevalue("session_procs")
    if getattr(t, "broken", None):
        pytest.fail(f"shared respite could not be restarted earlier: {t.broken}")
    if not t.proxy.process.alive():
        try:
            fresh = procs.respite(t.redis.port, unixsocket=True)
        except Exception as exc:  # noqa: BLE001 - recorded so later tests fail fast
            t.broken = repr(exc)
            raise
        t.proxy.port, t.proxy.unixsocket, t.proxy.process = fresh.port, fresh.unixsocket, fresh.process
    yield
    p = t.proxy.process
    if not p.alive():
        pytest.fail(f"respite exited during this test (rc={p.popen.returncode}); log tail:\n{p.log_tail()}")


@pytest.fixture(scope="session")
def proxy(target):
    return target.proxy


@pytest.fixture(scope="session")
def redis(target):
    return target.redis


@pytest.fixture
def procs():
    """A process group stopped (by PID) when the test ends."""
    p = Procs("fn")
    _ACTIVE.append(p)
    yield p
    _ACTIVE.remove(p)
    p.stop_all()


_counter = [0]


@pytest.fixture
def key(request):
    """A key prefix unique to the test."""
    _counter[0] += 1
    return f"t{_counter[0]}:{request.node.name[:40]}:"
