"""Replies Redis legitimately nests deeper than any client-side limit pass through Respite as
Redis made them, and do not break the shared upstream connection other clients use."""

import pytest

from harness import Conn, cmd, hello3, make_target

pytestmark = pytest.mark.respite_only

# Redis's own test "Script return recursive object": the reply is ~8000 nested one-element
# arrays ending in "-ERR reached lua stack limit" — far past proto-max-nesting (128).
RECURSIVE = "local a = {}; local b = {a}; a[1] = b; return a"


def frame_end(buf):
    """Where the frame at the start of `buf` ends, or None while incomplete: a count of values
    still owed instead of recursion (the harness's recursive parser cannot nest 8000 deep)."""
    owed, i = 1, 0
    while owed:
        j = buf.find(b"\r\n", i)
        if j < 0:
            return None
        t = buf[i:i + 1]
        owed -= 1
        if t in (b"*", b"~", b">", b"%"):
            n = int(buf[i + 1:j])
            owed += max(n, 0) * (2 if t == b"%" else 1)
            i = j + 2
        elif t in (b"$", b"=", b"!") and int(buf[i + 1:j]) >= 0:
            i = j + 2 + int(buf[i + 1:j]) + 2
            if i > len(buf):
                return None
        else:
            i = j + 2
    return i


def read_deep(conn):
    """The raw bytes of one deep reply."""
    buf = conn.pending()
    conn.buf, conn.pos = b"", 0
    while frame_end(buf) is None:
        chunk = conn.sock.recv(1 << 16)
        assert chunk, f"closed after {len(buf)} bytes"
        buf += chunk
    end = frame_end(buf)
    conn.buf = buf[end:]
    return buf[:end]


def upstream_ids(redis_ep):
    with Conn(redis_ep.addr) as d:
        me = d.call("CLIENT", "ID")
        lines = d.call("CLIENT", "LIST").decode().splitlines()
    return {f["id"] for f in (dict(kv.split("=", 1) for kv in l.split() if "=" in kv) for l in lines)
            if f.get("id") != str(me) and f.get("cmd") != "client|list"}


# The same with a RESP3-only type on every level (a double, sent to Respite's RESP3 upstream
# connection as `,1.5`): a RESP2 client needs the reply reshaped, thousands of levels deep.
RECURSIVE_DOUBLES = "local a = {}; local b = {a, {double = 1.5}}; a[1] = b; return a"


@pytest.mark.parametrize("proto", [2, 3])
@pytest.mark.parametrize("script", [RECURSIVE, RECURSIVE_DOUBLES], ids=["arrays", "doubles"])
def test_recursive_script_reply_passes_as_redis_sent_it(target, key, proto, script):
    with Conn(target.redis.addr) as direct, Conn(target.proxy.addr) as c, Conn(target.proxy.addr) as other:
        if proto == 3:
            hello3(direct)
            hello3(c)
        direct.send_cmd("EVAL", script, "0")
        expected = read_deep(direct)
        assert expected.count(b"*1\r\n") > 1000, "the reply is not as deep as the test assumes"
        assert other.call("SET", key, "0") == "OK"
        before = upstream_ids(target.redis)
        # Another client's writes are in flight around the deep reply: they must all be
        # answered, none failed as outcome-unknown.
        c.send_cmd("EVAL", script, "0")
        other.send(b"".join(cmd("INCR", key) for _ in range(200)))
        assert read_deep(c) == expected
        assert [other.read() for _ in range(200)] == list(range(1, 201))
        assert c.call("PING") == "PONG"
        # No upstream connection was dropped and replaced (the script ran on one of its own).
        assert before <= upstream_ids(target.redis)


def commandstat_calls(redis_ep, name):
    with Conn(redis_ep.addr) as d:
        info = d.call("INFO", "commandstats").decode()
    for line in info.splitlines():
        if line.startswith(f"cmdstat_{name}:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


@pytest.mark.parametrize("proto", [2, 3])
def test_replies_past_client_limits_pass_once_on_the_same_connection(procs, key, proto):
    """With small client-side limits (proto-max-bulk-len 1mb, proto-max-nesting 8), a 3 MB bulk
    reply and a reply thousands of levels deep pass as Redis sent them, each command runs
    upstream once (never re-sent), and the shared connection stays: another client's pipelined
    INCRs around them are all answered and no upstream connection is replaced."""
    t = make_target(procs, respite_args=("--proto-max-bulk-len", "1mb", "--proto-max-nesting", "8"))
    big = key + "big"
    with Conn(t.redis.addr) as direct, Conn(t.proxy.addr) as c, Conn(t.proxy.addr) as other:
        direct.call("SET", big, "v" * (3 * 1024 * 1024))
        if proto == 3:
            hello3(direct)
            hello3(c)
        expected_get = direct.call_raw("GET", big)
        direct.send_cmd("EVAL", RECURSIVE, "0")
        expected_deep = read_deep(direct)
        assert other.call("SET", key, "0") == "OK"
        before = upstream_ids(t.redis)
        gets, evals = commandstat_calls(t.redis, "get"), commandstat_calls(t.redis, "eval")
        other.send(b"".join(cmd("INCR", key) for _ in range(100)))
        c.send_cmd("GET", big)
        other.send(b"".join(cmd("INCR", key) for _ in range(100)))
        assert c.read_raw(timeout=20) == expected_get
        c.send_cmd("EVAL", RECURSIVE, "0")
        other.send(b"".join(cmd("INCR", key) for _ in range(100)))
        assert read_deep(c) == expected_deep
        assert [other.read() for _ in range(300)] == list(range(1, 301))
        assert c.call("PING") == "PONG"
        assert commandstat_calls(t.redis, "get") == gets + 1
        assert commandstat_calls(t.redis, "eval") == evals + 1
        assert before <= upstream_ids(t.redis)
