"""A blocking call is recognised by its syntax, not by a word found among its arguments: an
XREADGROUP whose group or consumer is named `streams` still blocks on a connection of its own,
so other clients' commands on the shared connection answer at once, and it is still served
when an entry arrives."""

import time

import pytest

from harness import Conn, wait_until


def blocked_clients(direct) -> int:
    for line in direct.call("INFO", "clients").decode().splitlines():
        if line.startswith("blocked_clients:"):
            return int(line.split(":")[1])
    return 0


# (groups to create as (group name), call with {k} for the stream key)
CALLS = [
    (["streams"], ["XREADGROUP", "GROUP", "streams", "c", "BLOCK", "0", "STREAMS", "{k}", ">"]),
    (["g"], ["XREADGROUP", "GROUP", "g", "streams", "BLOCK", "0", "STREAMS", "{k}", ">"]),
    (["count"], ["XREADGROUP", "GROUP", "count", "streams", "COUNT", "5", "BLOCK", "0", "STREAMS", "{k}", ">"]),
    (["12"], ["XREADGROUP", "GROUP", "12", "34", "NOACK", "BLOCK", "0", "STREAMS", "{k}", ">"]),
    ([], ["XREAD", "COUNT", "5", "BLOCK", "0", "STREAMS", "{k}", "$"]),
]


@pytest.mark.parametrize("groups,call", CALLS, ids=[" ".join(c[0:4]) for _, c in CALLS])
def test_blocking_call_leaves_shared_connection_free(proxy, redis, key, groups, call):
    k = key + "rs"
    call = [a.replace("{k}", k) for a in call]
    with Conn(redis.addr) as direct, Conn(proxy.addr, timeout=10) as waiter, Conn(proxy.addr, timeout=10) as other:
        direct.call("DEL", k)
        for g in groups:
            assert direct.call("XGROUP", "CREATE", k, g, "$", "MKSTREAM") == "OK"
        assert direct.call("SET", key + "v", "here") == "OK"
        before = blocked_clients(direct)
        waiter.send_cmd(*call)
        wait_until(lambda: blocked_clients(direct) > before, 5.0, "the call to block in redis")
        # Another client's commands answer at once meanwhile.
        for _ in range(5):
            started = time.monotonic()
            assert other.call("GET", key + "v", ) == b"here"
            assert time.monotonic() - started < 1.0, "GET waited behind the blocked call"
        # The blocked call is still served when an entry arrives.
        entry_id = direct.call("XADD", k, "*", "f", "v")
        reply = waiter.read(timeout=5)
        assert reply[0][0] == k.encode()
        assert reply[0][1] == [[entry_id, [b"f", b"v"]]]
        assert waiter.call("PING") == "PONG"
        direct.call("DEL", k, key + "v")
