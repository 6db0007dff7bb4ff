"""Edges where a proxy's bookkeeping can drift from redis: session commands inside
MULTI, leased connections reused after a client vanished mid-state, and pipelines
that cross between shared and dedicated upstream connections."""

import pytest

from harness import DIRECT, Conn, cmd, hello3, wait_until


def run(ep, commands, proto=2):
    with Conn(ep.addr) as c:
        if proto == 3:
            hello3(c)
        c.send(b"".join(cmd(*x) for x in commands))
        return [c.read_raw() for _ in commands]


def same(proxy, redis, commands, proto=2, keys=()):
    if keys:
        run(redis, [("DEL",) + tuple(keys)] + [("SELECT", "1"), ("DEL",) + tuple(keys)])
    want = run(redis, commands, proto)
    if keys:
        run(redis, [("DEL",) + tuple(keys)] + [("SELECT", "1"), ("DEL",) + tuple(keys)])
    got = run(proxy, commands, proto)
    if keys:
        run(redis, [("DEL",) + tuple(keys)] + [("SELECT", "1"), ("DEL",) + tuple(keys)])
    diffs = [(c, w, g) for c, w, g in zip(commands, want, got) if w != g]
    assert not diffs, "\n".join(f"{c}: redis {w!r} respite {g!r}" for c, w, g in diffs)
    return got


@pytest.mark.respite_only
def test_proxy_fixture_really_is_respite(proxy, redis):
    """The suite talks to Respite, not redis: redis sees Respite's named upstream connections."""
    assert proxy.port != redis.port
    with Conn(proxy.addr) as c:
        c.call("SET", "edge:probe", "1")
    with Conn(redis.addr) as d:
        assert b"name=respite" in d.call("CLIENT", "LIST")
        d.call("DEL", "edge:probe")


def test_select_inside_multi_changes_db_after_exec(proxy, redis, key):
    """MULTI; SELECT 1; SET; EXEC leaves the connection in db 1, as redis does."""
    k = key + "k"
    same(proxy, redis, [("MULTI",), ("SELECT", "1"), ("SET", k, "in1"), ("EXEC",), ("GET", k), ("SELECT", "0"),
                        ("GET", k), ("SELECT", "1"), ("DEL", k)], keys=(k,))


def test_client_setname_inside_multi(proxy, redis, key):
    """CLIENT SETNAME queued in MULTI takes effect at EXEC."""
    same(proxy, redis, [("CLIENT", "GETNAME"), ("MULTI",), ("CLIENT", "SETNAME", "inmulti"), ("CLIENT", "GETNAME"),
                        ("EXEC",), ("CLIENT", "GETNAME")])


def test_blocking_command_inside_multi_does_not_block(proxy, redis, key):
    """BLPOP inside MULTI runs without blocking, as redis does (null on empty list)."""
    k = key + "l"
    same(proxy, redis, [("MULTI",), ("BLPOP", k, "0"), ("RPUSH", k, "a"), ("BLPOP", k, "0"), ("EXEC",)], keys=(k,))


def test_watch_inside_multi_is_refused(proxy, redis, key):
    """WATCH inside MULTI is an error and the transaction continues, as in redis."""
    k = key + "w"
    same(proxy, redis, [("MULTI",), ("WATCH", k), ("SET", k, "1"), ("EXEC",), ("GET", k), ("DEL", k)], keys=(k,))


@pytest.mark.parametrize("proto", [2, 3])
def test_pipeline_crossing_shared_and_dedicated_connections(proxy, redis, key, proto):
    """One write: plain commands, a timing-out BLPOP, MULTI/EXEC, WATCH, more plain commands; order kept."""
    k = key + "x"
    same(proxy, redis, [("SET", k, "1"), ("BLPOP", k + "l", "0.05"), ("GET", k), ("MULTI",), ("INCR", k),
                        ("EXEC",), ("GET", k), ("WATCH", k), ("GET", k), ("MULTI",), ("INCR", k), ("EXEC",),
                        ("XREAD", "BLOCK", "50", "STREAMS", k + "s", "$"), ("PING",), ("UNWATCH",), ("DEL", k)],
         proto=proto, keys=(k,))


def test_resp3_subscriber_pipeline_with_commands(proxy, redis, key):
    """RESP3: SUBSCRIBE, GET, PING, UNSUBSCRIBE in one write, bytes equal redis's."""
    ch = key + "ch"
    same(proxy, redis, [("SUBSCRIBE", ch), ("GET", key + "nokey"), ("PING",), ("UNSUBSCRIBE", ch), ("PING",)],
         proto=3)


def test_abandoned_multi_does_not_leak_into_next_client(proxy, key):
    """Clients that disconnect mid-MULTI leave no queued state for whoever gets that connection next."""
    k = key + "m"
    for i in range(20):
        a = Conn(proxy.addr)
        assert a.call("MULTI") == "OK"
        assert a.call("SET", k, f"abandoned{i}") == "QUEUED"
        a.close()
        with Conn(proxy.addr) as b:
            assert b.call("MULTI") == "OK"
            assert b.call("INCR", k + "n") == "QUEUED"
            assert b.call("EXEC") == [i + 1]
            assert b.call("GET", k) is None
    with Conn(proxy.addr) as c:
        c.call("DEL", k + "n")


def test_abandoned_watch_does_not_abort_next_clients_exec(proxy, key):
    """A client that WATCHes and vanishes must not make a later client's EXEC fail."""
    k = key + "w"
    for i in range(20):
        a = Conn(proxy.addr)
        assert a.call("WATCH", k) == "OK"
        a.close()
        with Conn(proxy.addr) as other:
            assert other.call("SET", k, str(i)) == "OK"
        with Conn(proxy.addr) as b:
            assert b.call("MULTI") == "OK"
            assert b.call("SET", k + "x", "1") == "QUEUED"
            assert b.call("EXEC") == ["OK"], f"round {i}: EXEC aborted by a stale WATCH"
    with Conn(proxy.addr) as c:
        c.call("DEL", k, k + "x")


def test_abandoned_subscription_does_not_leak_messages(proxy, key):
    """After a subscriber vanishes, the next client using dedicated connections sees no stray messages."""
    ch = key + "ch"
    for i in range(10):
        a = Conn(proxy.addr)
        a.send_cmd("SUBSCRIBE", ch)
        a.read()
        a.close()
        with Conn(proxy.addr) as pub:
            wait_until(lambda: pub.call("PUBLISH", ch, "stray") == 0, 10, "subscription gone")
        with Conn(proxy.addr) as b:
            assert b.call("MULTI") == "OK"
            assert b.call("PING") == "QUEUED"
            assert b.call("EXEC") == ["PONG"]
            assert b.call_raw("BLPOP", key + "l", "0.01") == b"*-1\r\n"


def test_abandoned_blpop_does_not_steal_from_next_blocked_client(proxy, key):
    """A BLPOP client that vanishes does not take a value meant for the next BLPOP client."""
    k = key + "q"
    for i in range(10):
        a = Conn(proxy.addr)
        a.send_cmd("BLPOP", k, "30")
        with Conn(proxy.addr) as obs:
            wait_until(lambda: b"blocked_clients:1" in obs.call("INFO", "clients"), 5, "first BLPOP blocked")
            a.close()
            wait_until(lambda: b"blocked_clients:0" in obs.call("INFO", "clients"), 10, "abandoned BLPOP released")
            with Conn(proxy.addr) as b:
                b.send_cmd("BLPOP", k, "10")
                wait_until(lambda: b"blocked_clients:1" in obs.call("INFO", "clients"), 5, "second BLPOP blocked")
                obs.call("RPUSH", k, f"v{i}")
                assert b.read() == [k.encode(), f"v{i}".encode()]


def test_two_hundred_concurrent_blocked_clients(proxy, key):
    """200 BLPOP clients on separate keys are all served when their keys get values."""
    conns = [Conn(proxy.addr) for _ in range(200)]
    try:
        for i, c in enumerate(conns):
            c.send_cmd("BLPOP", f"{key}{i}", "20")
        with Conn(proxy.addr) as p:
            wait_until(lambda: b"blocked_clients:200" in p.call("INFO", "clients"), 15, "200 blocked clients")
            p.send(b"".join(cmd("RPUSH", f"{key}{i}", str(i)) for i in range(200)))
            assert [p.read() for _ in range(200)] == [1] * 200
        for i, c in enumerate(conns):
            assert c.read(timeout=10) == [f"{key}{i}".encode(), str(i).encode()]
    finally:
        for c in conns:
            c.close()


def test_mget_mset_with_a_thousand_keys(proxy, redis, key):
    """MSET/MGET of 1,000 keys (with misses) equal redis's bytes."""
    ks = [f"{key}{i}" for i in range(1000)]
    mset = ("MSET",) + tuple(x for i, k in enumerate(ks[:500]) for x in (k, str(i)))
    same(proxy, redis, [mset, ("MGET",) + tuple(ks), ("DEL",) + tuple(ks)], proto=2)
    same(proxy, redis, [mset, ("MGET",) + tuple(ks), ("DEL",) + tuple(ks)], proto=3)


def test_script_select_does_not_change_caller_db(proxy, redis, key):
    """SELECT inside a script leaves the caller's db alone (redis 7 semantics)."""
    k = key + "s"
    same(proxy, redis, [("EVAL", "redis.call('SELECT', 1); return redis.call('SET', KEYS[1], 'v')", "1", k),
                        ("GET", k), ("SELECT", "1"), ("GET", k), ("DEL", k)], keys=(k,))


def test_quit_after_forwarded_and_blocking_commands(proxy, key):
    """SET, GET, a timing-out BLPOP and MULTI/EXEC before QUIT all get replies, then the close."""
    k = key + "q"
    with Conn(proxy.addr) as c:
        c.send(cmd("SET", k, "1") + cmd("GET", k) + cmd("BLPOP", k + "l", "0.05") + cmd("MULTI") + cmd("DEL", k) +
               cmd("EXEC") + cmd("QUIT") + cmd("GET", k))
        got = [c.read_raw() for _ in range(7)]
        assert got == [b"+OK\r\n", b"$1\r\n1\r\n", b"*-1\r\n", b"+OK\r\n", b"+QUEUED\r\n", b"*1\r\n:1\r\n",
                       b"+OK\r\n"]
        assert c.wait_closed(5) == b""


def test_reset_from_resp3_subscribed_mode(proxy, redis, key):
    """RESP3 subscriber sends RESET: +RESET, RESP2 again, no more messages delivered."""
    ch = key + "ch"
    with Conn(proxy.addr) as s, Conn(proxy.addr) as pub:
        hello3(s)
        s.send_cmd("SUBSCRIBE", ch)
        s.read()
        assert s.call_raw("RESET") == b"+RESET\r\n"
        wait_until(lambda: pub.call("PUBLISH", ch, "after-reset") == 0, 10, "subscription dropped by RESET")
        assert s.call_raw("HGETALL", key + "none") == b"*0\r\n"
        assert s.call_raw("GET", key + "none") == b"$-1\r\n"
