"""CLIENT KILL through Respite as on Redis 7: both forms, every filter over Respite's own
clients, Redis's error texts; never run against Respite's upstream connections (not even from
inside MULTI). SLOWLOG and LATENCY pass through with Redis's reply shapes."""

import pytest

from harness import Conn, RespMap, hello3


ERRORS = [
    ("CLIENT", "KILL"),
    ("CLIENT", "KILL", "ID", "5", "SKIPME"),
    ("CLIENT", "KILL", "ID", "abc"),
    ("CLIENT", "KILL", "ID", "0"),
    ("CLIENT", "KILL", "TYPE", "bogus"),
    ("CLIENT", "KILL", "USER", "nobody-here"),
    ("CLIENT", "KILL", "SKIPME", "maybe"),
    ("CLIENT", "KILL", "FOO", "bar"),
    ("CLIENT", "KILL", "9.9.9.9:1"),
    ("CLIENT", "KILL", "ADDR", "9.9.9.9:1"),
    ("CLIENT", "KILL", "ADDR", "9.9.9.9:1", "TYPE", "master"),
    ("CLIENT", "KILL", "ADDR", "9.9.9.9:1", "USER", "default", "SKIPME", "no"),
    ("CLIENT", "KILL", "TYPE", "bogus", "FOO"),
]


def test_client_kill_arguments_and_errors_match_redis(proxy, redis):
    """Each malformed or non-matching CLIENT KILL gets Redis's exact reply."""
    with Conn(proxy.addr) as c, Conn(redis.addr) as d:
        for args in ERRORS:
            assert c.call_raw(*args) == d.call_raw(*args), args


def _addr_of(conn):
    fields = dict(f.split("=", 1) for f in conn.call("CLIENT", "INFO").decode().split() if "=" in f)
    return fields["addr"], fields["laddr"]


def test_client_kill_filters(proxy, redis):
    """ID, ADDR, LADDR, TYPE, USER and SKIPME select Respite's clients as Redis selects its own."""
    for target in (redis, proxy):
        with Conn(target.addr) as killer, Conn(target.addr) as sub, Conn(target.addr) as plain:
            sub.send_cmd("SUBSCRIBE", "kill-filter-chan")
            sub.read()
            pid = plain.call("CLIENT", "ID")
            paddr, laddr = _addr_of(plain)
            # TYPE pubsub with ADDR of a normal client: nothing; with the subscriber's: one.
            assert killer.call("CLIENT", "KILL", "TYPE", "pubsub", "ADDR", paddr) == 0
            assert killer.call("CLIENT", "KILL", "TYPE", "normal", "ID", str(pid), "USER", "default",
                               "LADDR", laddr, "SKIPME", "yes") == 1
            assert plain.wait_closed(5) == b""
            assert killer.call("CLIENT", "KILL", "TYPE", "pubsub", "LADDR", laddr) == 1
            sub.wait_closed(5)
            # SKIPME no with the killer's own id kills the killer after its reply.
            kid = killer.call("CLIENT", "ID")
            assert killer.call("CLIENT", "KILL", "ID", str(kid), "SKIPME", "no") == 1
            assert killer.wait_closed(5) == b""


@pytest.mark.respite_only
def test_client_kill_maxage(proxy):
    """MAXAGE (Redis 7.4): clients connected at least that many seconds."""
    with Conn(proxy.addr) as killer, Conn(proxy.addr) as victim:
        vid = victim.call("CLIENT", "ID")
        assert killer.call("CLIENT", "KILL", "ID", str(vid), "MAXAGE", "100000") == 0
        assert killer.call_raw("CLIENT", "KILL", "MAXAGE", "soon") == b"-ERR value is not an integer or out of range\r\n"
        assert killer.call("CLIENT", "KILL", "ID", str(vid), "MAXAGE", "0") == 1
        assert victim.wait_closed(5) == b""


@pytest.mark.respite_only
def test_client_kill_inside_multi_never_reaches_redis(proxy, key):
    """Inside MULTI, CLIENT KILL is refused (the server would kill Respite's own upstream
    connections) and EXEC aborts as Redis aborts a transaction with a refused command."""
    with Conn(proxy.addr) as c, Conn(proxy.addr) as other:
        oid = other.call("CLIENT", "ID")
        assert c.call("MULTI") == "OK"
        assert c.call("SET", key, "1") == "QUEUED"
        err = c.call_raw("CLIENT", "KILL", "TYPE", "normal")
        assert err.startswith(b"-ERR Respite: CLIENT KILL is not allowed inside MULTI")
        assert c.call_raw("EXEC") == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
        assert c.call("GET", key) is None, "the discarded SET did not run"
        # CLIENT UNBLOCK names Respite ids, which mean nothing to the server: refused alike.
        assert c.call("MULTI") == "OK"
        assert c.call_raw("CLIENT", "UNBLOCK", str(oid)).startswith(b"-ERR Respite: CLIENT UNBLOCK is not allowed inside MULTI")
        assert c.call_raw("EXEC").startswith(b"-EXECABORT")
        assert other.call("CLIENT", "ID") == oid
        assert c.call("PING") == "PONG"
        # A transaction after the aborted one runs normally.
        assert c.call("MULTI") == "OK"
        assert c.call("SET", key, "2") == "QUEUED"
        assert c.call("EXEC") == ["OK"]


def _slowlog_latency(addr, proto):
    with Conn(addr) as c:
        if proto == 3:
            hello3(c)
        old = c.call("CONFIG", "GET", "slowlog-log-slower-than")
        old = old.get(b"slowlog-log-slower-than") if isinstance(old, RespMap) else old[1]
        try:
            assert c.call("SLOWLOG", "RESET") == "OK"
            c.call("CONFIG", "SET", "slowlog-log-slower-than", "0")
            c.call("PING")
            length = c.call("SLOWLOG", "LEN")
            entries = c.call("SLOWLOG", "GET", "1")
            shape = [type(length).__name__, len(entries), len(entries[0]) if entries else 0]
            types = [c.call_raw("LATENCY", "LATEST")[:1], c.call_raw("LATENCY", "HISTOGRAM", "ping")[:1],
                     c.call_raw("LATENCY", "RESET")[:1], c.call_raw("LATENCY", "DOCTOR")[:1],
                     c.call_raw("LATENCY", "HISTORY", "command")[:1]]
        finally:
            c.call("CONFIG", "SET", "slowlog-log-slower-than", old)
            c.call("SLOWLOG", "RESET")
        return length > 0, shape, types


@pytest.mark.parametrize("proto", [2, 3])
def test_slowlog_and_latency_reply_shapes(proxy, redis, proto):
    """SLOWLOG GET/LEN/RESET and LATENCY work through Respite with Redis's reply shapes."""
    assert _slowlog_latency(proxy.addr, proto) == _slowlog_latency(redis.addr, proto)
