"""A tracking redirect never leaks across clients: A's `CLIENT TRACKING ON REDIRECT <B>` sends
B what Redis would send B (nothing, for a RESP2 B outside pub/sub — not even while B is in
MULTI), B's connection stays B's while the redirect names it, so an unrelated client C that
gets a dedicated connection afterwards (subscribed elsewhere) never receives A's key names; when
B goes away, a RESP3 A gets `tracking-redir-broken` as from Redis. Each script runs against
redis-server and against Respite, and the bytes are compared."""

import pytest

from harness import Conn, hello3, wait_until


def _scenario(addr, k, c_proto):
    with Conn(addr) as a, Conn(addr) as b, Conn(addr) as c, Conn(addr) as w:
        hello3(a)
        if c_proto == 3:
            hello3(c)
        bid = b.call("CLIENT", "ID")
        assert b.call("MULTI") == "OK"
        assert a.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(bid)) == "OK"
        a.call("GET", k + "1")
        assert w.call("SET", k + "1", "v") == "OK"
        assert a.call("PING") == "PONG"  # the invalidation was produced before B goes on
        b_stream = [b.call_raw("SET", k + "x", "1"), b.call_raw("EXEC"), b.call_raw("PING")]
        # C, unrelated, subscribes elsewhere after B's transaction ended.
        c.send_cmd("SUBSCRIBE", k + "elsewhere")
        c_stream = [c.read_raw()]
        a.call("GET", k + "2")
        assert w.call("SET", k + "2", "v") == "OK"
        assert a.call("PING") == "PONG"
        assert w.call("PUBLISH", k + "elsewhere", "hello") == 1
        c_stream.append(c.read_raw(timeout=5))
        b_stream.append(b.call_raw("PING"))
        # B leaves: A (RESP3) is told its redirect is broken at its next invalidation.
        b.close()
        wait_until(lambda: f"id={bid} " not in w.call("CLIENT", "LIST").decode(), 5, "B to go away")
        a.call("GET", k + "3")
        assert w.call("SET", k + "3", "v") == "OK"
        broken = a.read(timeout=5)
        assert w.call("PUBLISH", k + "elsewhere", "again") == 1
        c_stream.append(c.read_raw(timeout=5))
        return b_stream, c_stream, broken, bid


@pytest.mark.parametrize("c_proto", [2, 3])
def test_redirect_target_in_multi_then_unrelated_subscriber(proxy, redis, key, c_proto):
    want_b, want_c, want_broken, want_id = _scenario(redis.addr, key + "~d~", c_proto)
    got_b, got_c, got_broken, got_id = _scenario(proxy.addr, key + "~p~", c_proto)
    assert want_b == [b"+QUEUED\r\n", b"*1\r\n+OK\r\n", b"+PONG\r\n", b"+PONG\r\n"]
    assert got_b == want_b
    assert [x.replace(b"~d~", b"~p~") for x in want_c] == got_c
    assert all(b"invalidate" not in x for x in got_c)
    assert want_broken == [b"tracking-redir-broken", want_id]
    assert got_broken == [b"tracking-redir-broken", got_id]
