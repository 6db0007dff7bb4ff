"""Connection-bound state through Respite: transactions, WATCH, blocking commands and
pub/sub, in RESP2 and RESP3, compared with redis-server where bytes are deterministic."""

import selectors
import threading
import time

import pytest

from harness import Conn, Push, cmd, hello3, wait_until


def run(ep, commands, proto=2):
    with Conn(ep.addr) as c:
        if proto == 3:
            hello3(c)
        c.send(b"".join(cmd(*x) for x in commands))
        return [c.read_raw() for _ in commands]


def same(proxy, redis, commands, proto=2, cleanup=()):
    want = run(redis, commands, proto)
    for k in cleanup:
        run(redis, [("DEL", k)])
    got = run(proxy, commands, proto)
    for k in cleanup:
        run(redis, [("DEL", k)])
    diffs = [(c, w, g) for c, w, g in zip(commands, want, got) if w != g]
    assert not diffs, "\n".join(f"{c}: redis {w!r} respite {g!r}" for c, w, g in diffs)
    return got


# --- transactions -----------------------------------------------------------

@pytest.mark.parametrize("proto", [2, 3])
def test_multi_exec_queues_and_executes(proxy, redis, key, proto):
    """MULTI answers +QUEUED per command; EXEC returns every result, shaped as redis does."""
    k = key + "m"
    commands = [("MULTI",), ("SET", k, "1"), ("INCRBY", k, "9"), ("GET", k), ("HSET", k + "h", "a", "1"),
                ("HGETALL", k + "h"), ("ZADD", k + "z", "1.5", "m"), ("ZRANGE", k + "z", "0", "-1", "WITHSCORES"),
                ("ZSCORE", k + "z", "m"), ("LPUSH", k, "x"), ("GET", k + "nope"), ("EXEC",)]
    got = same(proxy, redis, commands, proto, cleanup=(k, k + "h", k + "z"))
    assert got[1:11] == [b"+QUEUED\r\n"] * 10
    run(redis, [("DEL", k, k + "h", k + "z")])


def test_discard_drops_queued_commands(proxy, redis, key):
    """DISCARD answers +OK and nothing queued runs; EXEC/DISCARD without MULTI error as redis."""
    k = key + "d"
    got = same(proxy, redis, [("MULTI",), ("SET", k, "1"), ("DISCARD",), ("GET", k), ("EXEC",), ("DISCARD",)])
    assert got[3] == b"$-1\r\n"


def test_multi_with_syntax_error_gives_execabort(proxy, redis, key):
    """A queued command with bad arity makes EXEC answer -EXECABORT, as redis."""
    k = key + "e"
    got = same(proxy, redis, [("MULTI",), ("SET", k), ("SET", k, "1"), ("NOSUCHCMD",), ("EXEC",), ("GET", k)])
    assert got[4].startswith(b"-EXECABORT")


@pytest.mark.parametrize("proto,null", [(2, b"*-1\r\n"), (3, b"_\r\n")])
def test_watch_then_concurrent_write_aborts_exec(proxy, key, proto, null):
    """WATCH k, another client changes k, EXEC returns the null reply."""
    k = key + "w"
    with Conn(proxy.addr) as a, Conn(proxy.addr) as b:
        if proto == 3:
            hello3(a)
        assert a.call("SET", k, "0") == "OK"
        assert a.call("WATCH", k) == "OK"
        assert b.call("SET", k, "other") == "OK"
        assert a.call("MULTI") == "OK"
        assert a.call("SET", k, "mine") == "QUEUED"
        assert a.call_raw("EXEC") == null
        assert a.call("GET", k) == b"other"
        # A second transaction on the same connection works normally.
        assert a.call("WATCH", k) == "OK"
        assert a.call("MULTI") == "OK"
        assert a.call("SET", k, "mine") == "QUEUED"
        assert a.call_raw("EXEC") == b"*1\r\n+OK\r\n"
        a.call("DEL", k)


def test_watch_unchanged_key_lets_exec_run(proxy, key):
    """WATCH without interference: EXEC runs; UNWATCH then foreign write does not abort."""
    k = key + "u"
    with Conn(proxy.addr) as a, Conn(proxy.addr) as b:
        a.call("WATCH", k)
        a.call("MULTI")
        a.call("INCR", k)
        assert a.call_raw("EXEC") == b"*1\r\n:1\r\n"
        a.call("WATCH", k)
        a.call("UNWATCH")
        b.call("SET", k, "5")
        a.call("MULTI")
        a.call("INCR", k)
        assert a.call_raw("EXEC") == b"*1\r\n:6\r\n"
        a.call("DEL", k)


def test_transactions_on_many_connections_do_not_mix(proxy, key):
    """20 connections each run MULTI/EXEC interleaved; each EXEC holds only its own results."""
    conns = [Conn(proxy.addr) for _ in range(20)]
    try:
        for c in conns:
            c.call("MULTI")
        for i, c in enumerate(conns):
            assert c.call("SET", f"{key}{i}", str(i)) == "QUEUED"
            assert c.call("GET", f"{key}{i}") == "QUEUED"
        for i, c in enumerate(conns):
            assert c.call("EXEC") == ["OK", str(i).encode()]
    finally:
        for c in conns:
            c.close()
        with Conn(proxy.addr) as c:
            c.call("DEL", *[f"{key}{i}" for i in range(20)])


# --- blocking commands ------------------------------------------------------

@pytest.mark.parametrize("proto,null", [(2, b"*-1\r\n"), (3, b"_\r\n")])
def test_blpop_timeout_returns_null(proxy, key, proto, null):
    """BLPOP on an empty list times out with redis's null reply, within a bounded time."""
    with Conn(proxy.addr) as c:
        if proto == 3:
            hello3(c)
        t = time.monotonic()
        assert c.call_raw("BLPOP", key + "empty", "0.2") == null
        assert time.monotonic() - t < 5


def test_blpop_woken_by_lpush_delivers_once(proxy, key):
    """Two BLPOP waiters, one LPUSH: exactly one gets the value; a second push frees the other."""
    k = key + "q"
    with Conn(proxy.addr) as w1, Conn(proxy.addr) as w2, Conn(proxy.addr) as p, Conn(proxy.addr) as obs:
        w1.send_cmd("BLPOP", k, "10")
        w2.send_cmd("BLPOP", k, "10")
        wait_until(lambda: blocked_count(obs) >= 2, 5, "two blocked clients")
        assert p.call("LPUSH", k, "v1") == 1
        sel = selectors.DefaultSelector()
        sel.register(w1.sock, selectors.EVENT_READ, w1)
        sel.register(w2.sock, selectors.EVENT_READ, w2)
        ready = sel.select(timeout=5)
        sel.close()
        assert len(ready) >= 1, "no waiter was released by LPUSH"
        first = ready[0][0].data
        assert first.read() == [k.encode(), b"v1"]
        other = w2 if first is w1 else w1
        other.expect_no_frame(0.3)
        assert p.call("RPUSH", k, "v2") == 1
        assert other.read() == [k.encode(), b"v2"]
        assert p.call("LLEN", k) == 0


def blocked_count(conn) -> int:
    """Clients blocked in redis, read from INFO clients through the given connection."""
    info = conn.call("INFO", "clients").decode()
    for line in info.splitlines():
        if line.startswith("blocked_clients:"):
            return int(line.split(":")[1])
    return 0


def test_brpoplpush_and_blmove_wake_up(proxy, key):
    """BRPOPLPUSH and BLMOVE block, then move the pushed element."""
    src, dst = key + "src", key + "dst"
    with Conn(proxy.addr) as w, Conn(proxy.addr) as p:
        w.send_cmd("BRPOPLPUSH", src, dst, "10")
        wait_until(lambda: blocked_count(p) >= 1, 5, "BRPOPLPUSH blocked")
        p.call("LPUSH", src, "a")
        assert w.read_raw() == b"$1\r\na\r\n"
        w.send_cmd("BLMOVE", src, dst, "LEFT", "LEFT", "10")
        wait_until(lambda: blocked_count(p) >= 1, 5, "BLMOVE blocked")
        p.call("RPUSH", src, "b")
        assert w.read_raw() == b"$1\r\nb\r\n"
        assert p.call("LRANGE", dst, "0", "-1") == [b"b", b"a"]
        p.call("DEL", src, dst)


@pytest.mark.parametrize("proto,reply", [(2, b"*3\r\n$%d\r\n%s\r\n$1\r\nm\r\n$3\r\n1.5\r\n"),
                                          (3, b"*3\r\n$%d\r\n%s\r\n$1\r\nm\r\n,1.5\r\n")])
def test_bzpopmin_wakes_with_score(proxy, key, proto, reply):
    """BZPOPMIN blocks, then returns key, member and score (bulk in RESP2, double in RESP3)."""
    k = key + "z"
    with Conn(proxy.addr) as w, Conn(proxy.addr) as p:
        if proto == 3:
            hello3(w)
        w.send_cmd("BZPOPMIN", k, "10")
        wait_until(lambda: blocked_count(p) >= 1, 5, "BZPOPMIN blocked")
        p.call("ZADD", k, "1.5", "m")
        assert w.read_raw() == reply % (len(k), k.encode())


@pytest.mark.parametrize("proto", [2, 3])
def test_xread_block_wakes_on_xadd(proxy, redis, key, proto):
    """XREAD BLOCK returns the entry added by another client (same bytes as redis would send)."""
    k = key + "s"
    with Conn(proxy.addr) as w, Conn(proxy.addr) as p, Conn(redis.addr) as d:
        if proto == 3:
            hello3(w)
            hello3(d)
        w.send_cmd("XREAD", "BLOCK", "10000", "STREAMS", k, "$")
        wait_until(lambda: blocked_count(p) >= 1, 5, "XREAD blocked")
        p.call("XADD", k, "7-1", "field", "value")
        got = w.read_raw()
        assert got == d.call_raw("XREAD", "STREAMS", k, "0")
        p.call("DEL", k)


def test_fifty_concurrent_blpop_clients_all_released(proxy, key):
    """50 BLPOP waiters on one list are each released by one of 50 pushed values, each value once."""
    k = key + "many"
    waiters = [Conn(proxy.addr) for _ in range(50)]
    try:
        with Conn(proxy.addr) as p:
            for w in waiters:
                w.send_cmd("BLPOP", k, "20")
            wait_until(lambda: blocked_count(p) >= 50, 10, "50 blocked clients")
            assert p.call("RPUSH", k, *[f"v{i}" for i in range(50)]) == 50
            values = sorted(w.read(timeout=10)[1] for w in waiters)
            assert values == sorted(f"v{i}".encode() for i in range(50))
            assert p.call("LLEN", k) == 0
    finally:
        for w in waiters:
            w.close()


def test_closing_a_blocked_client_does_not_eat_later_pushes(proxy, key):
    """A BLPOP client that disconnects is no longer served: the pushed value stays for others."""
    k = key + "gone"
    with Conn(proxy.addr) as p:
        w = Conn(proxy.addr)
        w.send_cmd("BLPOP", k, "30")
        wait_until(lambda: blocked_count(p) >= 1, 5, "BLPOP blocked")
        w.close()
        wait_until(lambda: blocked_count(p) == 0, 10, "blocked client released after disconnect")
        p.call("RPUSH", k, "kept")
        assert p.call("LRANGE", k, "0", "-1") == [b"kept"]
        p.call("DEL", k)


# --- pub/sub ------------------------------------------------------------------

def sub_session(ep, proto, key):
    """A scripted subscribe session; returns raw frames (publishes come from a second connection)."""
    ch1, ch2, pat, sch = key + "ch1", key + "ch2", key + "p*", key + "sch"
    frames = []
    with Conn(ep.addr) as s, Conn(ep.addr) as pub:
        if proto == 3:
            hello3(s)
        s.send_cmd("SUBSCRIBE", ch1, ch2)
        frames += [s.read_raw(), s.read_raw()]
        s.send_cmd("PSUBSCRIBE", pat)
        frames.append(s.read_raw())
        s.send_cmd("SSUBSCRIBE", sch)
        frames.append(s.read_raw())
        frames.append(pub.call_raw("PUBLISH", ch1, "hello"))
        frames.append(s.read_raw())
        frames.append(pub.call_raw("PUBLISH", key + "px", "pat-msg"))
        frames.append(s.read_raw())
        frames.append(pub.call_raw("SPUBLISH", sch, "shard-msg"))
        frames.append(s.read_raw())
        s.send_cmd("PING")
        frames.append(s.read_raw())
        s.send_cmd("PING", "payload")
        frames.append(s.read_raw())
        s.send_cmd("GET", "x")
        frames.append(s.read_raw())
        s.send_cmd("UNSUBSCRIBE", ch1)
        frames.append(s.read_raw())
        s.send_cmd("PUNSUBSCRIBE")
        frames.append(s.read_raw())
        s.send_cmd("SUNSUBSCRIBE")
        frames.append(s.read_raw())
        s.send_cmd("UNSUBSCRIBE")
        frames.append(s.read_raw())
        s.send_cmd("UNSUBSCRIBE")
        frames.append(s.read_raw())
        s.send_cmd("PING")
        frames.append(s.read_raw())
    return frames


@pytest.mark.parametrize("proto", [2, 3])
def test_pubsub_session_matches_redis_byte_for_byte(proxy, redis, key, proto):
    """(P|S)SUBSCRIBE, messages, PING, refused commands and unsubscribe counts equal redis's bytes."""
    want = sub_session(redis, proto, key)
    got = sub_session(proxy, proto, key)
    diffs = [(i, w, g) for i, (w, g) in enumerate(zip(want, got)) if w != g]
    assert not diffs, "\n".join(f"frame {i}: redis {w!r} respite {g!r}" for i, w, g in diffs)


def test_pubsub_resp2_shapes(proxy, key):
    """RESP2 subscribed mode: messages are arrays, PING is [pong, ""], GET gets redis's error."""
    ch = key + "c"
    with Conn(proxy.addr) as s, Conn(proxy.addr) as pub:
        s.send_cmd("SUBSCRIBE", ch)
        assert s.read_raw() == b"*3\r\n$9\r\nsubscribe\r\n$%d\r\n%s\r\n:1\r\n" % (len(ch), ch.encode())
        assert pub.call("PUBLISH", ch, "m") == 1
        assert s.read_raw() == b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$1\r\nm\r\n" % (len(ch), ch.encode())
        s.send_cmd("PING")
        assert s.read_raw() == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
        s.send_cmd("GET", "k")
        err = s.read_raw()
        assert err.startswith(b"-ERR Can't execute 'get'"), err


def test_pubsub_resp3_messages_are_pushes_and_commands_work(proxy, key):
    """RESP3: messages arrive as > pushes and ordinary commands still run while subscribed."""
    ch = key + "c3"
    with Conn(proxy.addr) as s, Conn(proxy.addr) as pub:
        hello3(s)
        s.send_cmd("SUBSCRIBE", ch)
        assert isinstance(s.read(), Push)
        assert s.call("SET", key + "k", "v") == "OK"
        assert pub.call("PUBLISH", ch, "m3") == 1
        msg = s.read()
        assert isinstance(msg, Push) and msg == [b"message", ch.encode(), b"m3"]
        assert s.call("GET", key + "k") == b"v"
        s.call("DEL", key + "k")


def test_many_subscribers_each_get_every_message(proxy, key):
    """30 subscribers on one channel each receive all 20 published messages in order."""
    ch = key + "fan"
    subs = [Conn(proxy.addr) for _ in range(30)]
    try:
        for s in subs:
            s.send_cmd("SUBSCRIBE", ch)
        for s in subs:
            assert s.read()[0] == b"subscribe"
        with Conn(proxy.addr) as pub:
            for i in range(20):
                assert pub.call("PUBLISH", ch, str(i)) == 30
        for s in subs:
            got = [s.read()[2] for _ in range(20)]
            assert got == [str(i).encode() for i in range(20)]
    finally:
        for s in subs:
            s.close()


def test_subscriber_disconnect_unsubscribes_upstream(proxy, key):
    """After a subscriber closes, PUBLISH counts drop back to 0 (no leaked upstream subscription)."""
    ch = key + "leak"
    with Conn(proxy.addr) as pub:
        s = Conn(proxy.addr)
        s.send_cmd("SUBSCRIBE", ch)
        s.read()
        assert pub.call("PUBLISH", ch, "x") == 1
        s.close()
        wait_until(lambda: pub.call("PUBLISH", ch, "y") == 0, 10, "subscription released")
