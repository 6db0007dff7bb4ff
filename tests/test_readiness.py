"""The admin endpoint's /readyz: 200 only while the upstream is usable (its last dial completed
its handshake, it is not in backoff, Respite's own login was not refused), else 503 with the
reason; /healthz stays 200 throughout. Upstream state changes are logged once each."""

import http.client

import pytest

from harness import Conn, Error, free_port, wait_until

pytestmark = pytest.mark.respite_only


def get(admin: int, path: str):
    conn = http.client.HTTPConnection("127.0.0.1", admin, timeout=10)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def readyz_is(admin: int, status: int):
    got = get(admin, "/readyz")
    return got if got[0] == status else None


def test_readyz_follows_the_upstream_down_and_back(procs, key):
    r = procs.redis()
    admin = free_port()
    proxy = procs.respite(r.port, args=("--admin-port", str(admin), "--upstream-timeout", "1s"))
    log = proxy.process.log
    assert get(admin, "/readyz") == (200, "ready\n")
    assert get(admin, "/healthz")[0] == 200
    with Conn(proxy.addr, timeout=10) as c:
        assert c.call("SET", key, "v") == "OK"
    # No request after the stop: the idle connection's loss makes the pool dial once, which
    # fails into backoff.
    r.process.stop()
    status, text = wait_until(lambda: readyz_is(admin, 503), 10, "/readyz 503 after redis stopped")
    assert text.startswith(f"upstream 127.0.0.1:{r.port} unavailable: "), text
    assert text.count("\n") == 1, text
    assert get(admin, "/healthz")[0] == 200
    wait_until(lambda: f"Upstream 127.0.0.1:{r.port} unavailable: " in log(), 5, "the unavailable line")
    assert "next connect attempt in " in log()

    # No client traffic from here: the pool's own redial finds the upstream again.
    procs.redis(port=r.port)
    wait_until(lambda: readyz_is(admin, 200), 20, "/readyz 200 after redis restarted")
    assert get(admin, "/readyz") == (200, "ready\n")
    wait_until(lambda: "reachable again after " in log(), 5, "the reachable again line")
    assert get(admin, "/healthz")[0] == 200
    # Once per change, not per failed attempt.
    assert log().count(f"Upstream 127.0.0.1:{r.port} unavailable: ") == 1, log()
    assert log().count("reachable again after ") == 1, log()


def test_readyz_503_while_upstream_down_at_start(procs):
    port = free_port()
    admin = free_port()
    proxy = procs.respite(port, args=("--admin-port", str(admin)), wait="connect")
    status, text = get(admin, "/readyz")
    assert status == 503 and text.startswith(f"upstream 127.0.0.1:{port} unavailable: "), (status, text)
    assert get(admin, "/healthz")[0] == 200
    procs.redis(port=port)
    wait_until(lambda: readyz_is(admin, 200), 20, "/readyz 200 once redis started")
    assert "reachable again after " in proxy.process.log()


def test_readyz_names_a_refused_login(procs):
    r = procs.redis(password="right")
    admin = free_port()
    proxy = procs.respite(r.port, args=("--admin-port", str(admin), "--upstream-password", "wrong"), wait="connect")
    status, text = get(admin, "/readyz")
    assert status == 503 and text.startswith(f"upstream 127.0.0.1:{r.port} refused Respite's login: WRONGPASS"), (status, text)
    assert text.count("\n") == 1, text
    assert get(admin, "/healthz")[0] == 200
    # The loop's own dial is refused too: still 503, and its warning comes once.
    wait_until(lambda: "refused Respite's own login" in proxy.process.log(), 10, "the refused login line")
    assert get(admin, "/readyz")[0] == 503
    assert proxy.process.log().count("refused Respite's own login") == 1


def test_readyz_when_own_login_refused_after_start(procs):
    r = procs.redis(password="first")
    admin = free_port()
    proxy = procs.respite(r.port, args=("--admin-port", str(admin), "--upstream-password", "first"))
    assert get(admin, "/readyz") == (200, "ready\n")
    with Conn(r.addr) as d:
        assert d.call("AUTH", "first") == "OK"
        assert d.call("CONFIG", "SET", "requirepass", "second") == "OK"
        # Every connection logs in again from here.
        assert d.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes") >= 1
    with Conn(proxy.addr, timeout=10) as c:
        assert isinstance(c.call("GET", "k"), Error)
    status, text = wait_until(lambda: readyz_is(admin, 503), 10, "/readyz 503 after the password changed")
    assert "refused Respite's login" in text, text
    with Conn(r.addr) as d:
        assert d.call("AUTH", "second") == "OK"
        assert d.call("CONFIG", "SET", "requirepass", "first") == "OK"
    # The tick re-dials once per upstream-reconnect-max (5 s by default).
    wait_until(lambda: readyz_is(admin, 200), 20, "/readyz 200 once the password is back")
    assert "accepts Respite's own login again" in proxy.process.log()
    assert get(admin, "/healthz")[0] == 200
