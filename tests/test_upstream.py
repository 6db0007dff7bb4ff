"""Respite's upstream side: failures give prompt errors, reconnection recovers,
credentials and ACL users work, connections are RESP3 and named, SELECT does not pin."""

import re

import pytest

from harness import Conn, Error, free_port, wait_until

pytestmark = pytest.mark.respite_only


def is_error(v) -> bool:
    return isinstance(v, Error)


def upstream_clients(redis_ep, password=None, user=None):
    """CLIENT LIST lines on redis, minus the connection asking."""
    with Conn(redis_ep.addr) as d:
        if password:
            assert d.call("AUTH", *([user] if user else []), password) == "OK"
        me = d.call("CLIENT", "ID")
        lines = d.call("CLIENT", "LIST").decode().splitlines()
    out = []
    for line in lines:
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if fields.get("id") != str(me):
            out.append(fields)
    return out


def first_reply_error(ep, *command, deadline=10.0):
    """Send one command; the reply must arrive within the deadline (an error, here)."""
    with Conn(ep.addr, timeout=deadline) as c:
        return c.call(*command)


def test_upstream_down_at_start_then_started(procs, key):
    """With no redis at start, commands get a prompt -ERR; once redis starts, they succeed."""
    port = free_port()
    proxy = procs.respite(port, args=("--upstream-timeout", "1s"), wait="connect")
    reply = first_reply_error(proxy, "GET", key)
    assert is_error(reply) and reply.startswith("ERR"), reply
    procs.redis(port=port)

    def works():
        with Conn(proxy.addr, timeout=5) as c:
            return c.call("SET", key, "up") == "OK" and c.call("GET", key) == b"up"
    wait_until(works, 20, "commands to succeed after redis started")


def test_upstream_killed_then_restarted_on_same_port(procs, key):
    """Killing redis gives errors (no hang); a new redis on the same port is used again, db kept."""
    r = procs.redis()
    proxy = procs.respite(r.port, args=("--upstream-timeout", "1s"))
    with Conn(proxy.addr, timeout=10) as c, Conn(proxy.addr, timeout=10) as db3:
        assert c.call("SET", key, "before") == "OK"
        assert db3.call("SELECT", "3") == "OK"
        assert db3.call("SET", key, "db3-before") == "OK"
        r.process.kill()
        reply = c.call("GET", key)
        assert is_error(reply), reply
        assert is_error(db3.call("GET", key))
        r2 = procs.redis(port=r.port)
        wait_until(lambda: c.call("SET", key, "after") == "OK", 20, "recovery after restart")
        assert c.call("GET", key) == b"after"
        wait_until(lambda: db3.call("SET", key, "db3-after") == "OK", 20, "db3 recovery")
    with Conn(r2.addr) as d:
        assert d.call("GET", key) == b"after"
        d.call("SELECT", "3")
        assert d.call("GET", key) == b"db3-after"


def test_blocked_client_gets_error_or_close_when_upstream_dies(procs, key):
    """A client blocked in BLPOP is told promptly (error or close) when redis dies."""
    r = procs.redis()
    proxy = procs.respite(r.port, args=("--upstream-timeout", "1s"))
    with Conn(proxy.addr, timeout=10) as w, Conn(r.addr) as d:
        w.send_cmd("BLPOP", key, "0")
        wait_until(lambda: "blocked_clients:1" in d.call("INFO", "clients").decode(), 5, "BLPOP blocked upstream")
        r.process.kill()
        try:
            reply = w.read(timeout=10)
            assert is_error(reply), reply
        except EOFError:
            pass


def test_upstream_given_by_name(procs, key):
    """An upstream named `localhost` is looked up on the loop and dialed: commands work, on
    connections that reach 127.0.0.1 and carry the handshake (RESP3, named)."""
    r = procs.redis()
    proxy = procs.respite(r.port, args=("--upstream", f"localhost:{r.port}"))
    with Conn(proxy.addr, timeout=10) as c, Conn(proxy.addr, timeout=10) as db2:
        assert c.call("SET", key, "by-name") == "OK"
        assert c.call("GET", key) == b"by-name"
        assert db2.call("SELECT", "2") == "OK"
        assert db2.call("SET", key, "db2") == "OK"
    with Conn(r.addr) as d:
        assert d.call("GET", key) == b"by-name"
        assert d.call("SELECT", "2") == "OK" and d.call("GET", key) == b"db2"
    conns = [f for f in upstream_clients(r) if f.get("name") == "respite"]
    assert conns and all(f["resp"] == "3" and f["addr"].startswith("127.0.0.1:") for f in conns), conns


def test_upstream_name_that_does_not_resolve_gives_prompt_error(procs, key):
    """A name with no address gives a request an error naming it, within the connect timeout."""
    r = procs.redis()
    proxy = procs.respite(r.port, args=("--upstream", f"no-such-host.invalid:{r.port}",
                                        "--upstream-connect-timeout", "2000", "--upstream-timeout", "1s"),
                          wait="connect")
    with Conn(proxy.addr, timeout=10) as c:
        reply = c.call("GET", key)
        assert is_error(reply) and "no-such-host.invalid" in reply, reply


def test_upstream_password(procs, key):
    """--upstream-password authenticates to a redis with requirepass."""
    r = procs.redis(password="uppw")
    proxy = procs.respite(r.port, args=("--upstream-password", "uppw"))
    with Conn(proxy.addr) as c:
        assert c.call("SET", key, "v") == "OK"
        assert c.call("GET", key) == b"v"
    conns = upstream_clients(r, password="uppw")
    assert conns and all(x.get("user") == "default" for x in conns)


def test_wrong_upstream_password_gives_prompt_error(procs, key):
    """A wrong --upstream-password yields an error reply, not a hang."""
    r = procs.redis(password="right")
    proxy = procs.respite(r.port, args=("--upstream-password", "wrong", "--upstream-timeout", "1s"), wait="connect")
    reply = first_reply_error(proxy, "GET", key)
    assert is_error(reply), reply


def test_upstream_acl_user(procs, key):
    """--upstream-user/--upstream-password log in as an ACL user (CLIENT LIST shows user=alice)."""
    r = procs.redis(password="defpw", args=("--user", "alice", "on", ">alicepw", "~*", "&*", "+@all"))
    proxy = procs.respite(r.port, args=("--upstream-user", "alice", "--upstream-password", "alicepw"))
    with Conn(proxy.addr) as c:
        assert c.call("SET", key, "v") == "OK"
        assert c.call("GET", key) == b"v"
    conns = upstream_clients(r, password="defpw")
    assert conns and all(x.get("user") == "alice" for x in conns), conns


def test_upstream_connections_are_resp3_and_named(procs, key):
    """Every upstream connection speaks RESP3 and carries Respite's name."""
    r = procs.redis()
    proxy = procs.respite(r.port)
    with Conn(proxy.addr) as c, Conn(proxy.addr) as s, Conn(proxy.addr) as m:
        c.call("SET", key, "v")
        s.send_cmd("SUBSCRIBE", key + "ch")
        s.read()
        m.call("MULTI")
        m.call("GET", key)
        conns = upstream_clients(r)
        m.call("EXEC")
    assert len(conns) >= 2, conns
    for x in conns:
        assert x.get("resp") == "3", x
        assert re.match(r"respite", x.get("name", "")), x


def test_select_does_not_pin_connections(procs, key):
    """30 clients in db 3 share a small pool: redis sees only a few upstream connections."""
    r = procs.redis()
    proxy = procs.respite(r.port, args=("--upstream-pool-size", "2"))
    clients = [Conn(proxy.addr) for _ in range(30)]
    try:
        for i, c in enumerate(clients):
            assert c.call("SELECT", "3") == "OK"
            assert c.call("SET", f"{key}{i}", str(i)) == "OK"
        for i, c in enumerate(clients):
            c.send_cmd("GET", f"{key}{i}")
        for i, c in enumerate(clients):
            assert c.read() == str(i).encode()
        conns = upstream_clients(r)
        assert len(conns) <= 6, f"{len(conns)} upstream connections for 30 clients: {conns}"
        assert any(x.get("db") == "3" for x in conns), conns
    finally:
        for c in clients:
            c.close()
    with Conn(r.addr) as d:
        assert d.call("DBSIZE") == 0
        d.call("SELECT", "3")
        assert d.call("DBSIZE") == 30
