"""Commands that act on connections never reach Respite's upstream connections as if they were
the client's: inside MULTI they are answered in Respite's clients' terms (SELECT, CLIENT SETNAME,
CLIENT TRACKING, CLIENT PAUSE/UNPAUSE as direct) or refused while queueing, which aborts the
transaction at EXEC as Redis aborts one with a refused command; scripts cannot reach them at all
(Redis flags them noscript). The first test shows what the same bytes do sent to redis-server
directly: its connections die."""

import pytest

from harness import Conn, hello3, wait_until

REFUSED_IN_MULTI = [
    ("CLIENT", "KILL", "TYPE", "normal"), ("CLIENT", "KILL", "ID", "1"), ("CLIENT", "UNBLOCK", "1"),
    ("CLIENT", "INFO"), ("CLIENT", "LIST"),
    ("CLIENT", "NO-EVICT", "on"), ("CLIENT", "REPLY", "off"), ("CLIENT", "REPLY", "skip"),
    ("CLIENT", "GETREDIR"), ("CLIENT", "TRACKINGINFO"), ("HELLO", "3"), ("AUTH", "pw"),
]


def _server_clients(r):
    """redis-server's own CLIENT LIST, seen directly: {id: fields}."""
    with Conn(r.addr) as d:
        me = d.call("CLIENT", "ID")
        out = {}
        for line in d.call("CLIENT", "LIST").decode().splitlines():
            f = dict(kv.split("=", 1) for kv in line.split(" ") if "=" in kv)
            if int(f["id"]) != me:
                out[int(f["id"])] = f
        return out


def _blocked_on(r, cmd):
    return [i for i, f in _server_clients(r).items() if f["cmd"] == cmd and "b" in f["flags"]]


def test_client_kill_in_multi_direct_kills_the_servers_connections(procs, key):
    """The danger: `MULTI; CLIENT KILL TYPE normal; EXEC` sent to redis-server directly kills
    every other normal connection — a blocked client and a client pipelining alike."""
    r = procs.redis()
    with Conn(r.addr) as blocked, Conn(r.addr) as busy, Conn(r.addr) as admin:
        blocked.send_cmd("BLPOP", key, "0")
        wait_until(lambda: _blocked_on(r, "blpop"), 5, "the BLPOP blocked on redis-server")
        assert busy.call("PING") == "PONG"
        admin.send(b"*1\r\n$5\r\nMULTI\r\n*4\r\n$6\r\nCLIENT\r\n$4\r\nKILL\r\n$4\r\nTYPE\r\n$6\r\nnormal\r\n*1\r\n$4\r\nEXEC\r\n")
        assert admin.read() == "OK" and admin.read() == "QUEUED"
        assert admin.read() == [2]
        assert blocked.wait_closed(5) == b""
        assert busy.wait_closed(5) == b""


@pytest.mark.respite_only
def test_client_kill_in_multi_through_respite_hurts_no_one(procs, key):
    """The same bytes through Respite: refused while queueing, EXEC aborts; another client's
    blocked BLPOP and a client pipelining on the shared connection go on, and redis-server's
    CLIENT LIST shows Respite's connections intact."""
    r = procs.redis()
    p = procs.respite(r.port)
    with Conn(p.addr) as blocked, Conn(p.addr) as busy, Conn(p.addr) as admin:
        assert busy.call("PING") == "PONG"
        blocked.send_cmd("BLPOP", key, "0")
        wait_until(lambda: _blocked_on(r, "blpop"), 5, "the BLPOP blocked upstream")
        before = _server_clients(r)
        busy.send(b"".join(b"*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n" % (len(key + "n"), (key + "n").encode())
                           for _ in range(200)))
        admin.send(b"*1\r\n$5\r\nMULTI\r\n*4\r\n$6\r\nCLIENT\r\n$4\r\nKILL\r\n$4\r\nTYPE\r\n$6\r\nnormal\r\n*1\r\n$4\r\nEXEC\r\n")
        assert admin.read() == "OK"
        assert admin.read().startswith("ERR Respite: CLIENT KILL is not allowed inside MULTI")
        assert admin.read() == "EXECABORT Transaction discarded because of previous errors."
        assert [busy.read() for _ in range(200)] == list(range(1, 201))
        after = _server_clients(r)
        assert set(before) <= set(after), "an upstream connection of Respite's was killed"
        assert busy.call("LPUSH", key, "v") == 1
        assert blocked.read(timeout=5) == [key.encode(), b"v"]
        assert admin.call("PING") == "PONG"


def _refused(addr, cmd, k):
    with Conn(addr) as c:
        assert c.call("MULTI") == "OK"
        assert c.call("SET", k, "1") == "QUEUED"
        refused = c.call_raw(*cmd)
        assert c.call("PING") == "QUEUED"
        execed = c.call_raw("EXEC")
        return refused, execed, c.call("GET", k), c.call("CLIENT", "INFO")


@pytest.mark.respite_only
@pytest.mark.parametrize("cmd", REFUSED_IN_MULTI, ids=lambda c: " ".join(c))
def test_connection_commands_refused_inside_multi(proxy, key, cmd):
    """Commands Respite answers for its own clients cannot run inside a transaction on its
    upstream connection: refused while queueing with a clear error, the transaction aborted at
    EXEC as Redis aborts one with a refused command, nothing of it run, the client unchanged."""
    refused, execed, value, info = _refused(proxy.addr, cmd, key)
    shown = " ".join(cmd[:2] if cmd[0] == "CLIENT" else cmd[:1]).upper().encode()
    assert refused == b"-ERR Respite: " + shown + b" is not allowed inside MULTI (it would act on the proxy's upstream connections, not on Respite's clients)\r\n"
    assert execed == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    assert value is None
    assert b" flags=N " in info and b" name= " in info and b" resp=2" in info


def _select_in_multi(addr, k):
    with Conn(addr) as c:
        assert c.call("MULTI") == "OK"
        replies = [c.call_raw("SELECT", "1"), c.call_raw("SET", k + "a", "1"), c.call_raw("SELECT", "99"),
                   c.call_raw("EXEC")]
        replies.append(c.call_raw("SET", k + "b", "2"))
        with Conn(addr) as d:
            d.call("SELECT", "1")
            replies.append(d.call_raw("EXISTS", k + "a", k + "b"))
            d.call("DEL", k + "a", k + "b")
        return replies


def test_select_inside_multi_moves_the_client_as_on_redis(proxy, redis, key):
    """SELECT queued in a transaction moves the client to that database once EXEC runs it."""
    want = _select_in_multi(redis.addr, key + "direct")
    assert want[3] == b"*3\r\n+OK\r\n+OK\r\n-ERR DB index is out of range\r\n" and want[5] == b":2\r\n"
    assert _select_in_multi(proxy.addr, key + "proxied") == want


def _id_and_name_in_multi(addr, proto):
    with Conn(addr) as c:
        if proto == 3:
            hello3(c)
        me = c.call("CLIENT", "ID")
        assert c.call("CLIENT", "SETNAME", "before") == "OK"
        assert c.call("MULTI") == "OK"
        for x in [("CLIENT", "ID"), ("CLIENT", "GETNAME"), ("CLIENT", "SETNAME", "during"), ("CLIENT", "GETNAME"),
                  ("CLIENT", "SETNAME", "bad name"), ("CLIENT", "GETNAME")]:
            assert c.call(*x) == "QUEUED"
        raw = c.call_raw("EXEC")
        return raw.replace(b":%d\r\n" % me, b":<me>\r\n", 1), c.call_raw("CLIENT", "GETNAME")


@pytest.mark.parametrize("proto", [2, 3])
def test_client_id_and_getname_inside_multi_answer_for_the_client(proxy, redis, proto):
    """CLIENT ID and GETNAME queued in MULTI: EXEC's reply holds the client's own id and name, as
    on Redis, never those of Respite's upstream connection."""
    want = _id_and_name_in_multi(redis.addr, proto)
    assert b":<me>\r\n" in want[0]
    assert _id_and_name_in_multi(proxy.addr, proto) == want


def _setname_in_multi(addr):
    with Conn(addr) as c:
        assert c.call("MULTI") == "OK"
        out = [c.call_raw("CLIENT", "SETNAME", "inmulti"), c.call_raw("EXEC"), c.call_raw("CLIENT", "GETNAME")]
        return out


def test_client_setname_inside_multi_as_on_redis(proxy, redis):
    assert _setname_in_multi(proxy.addr) == _setname_in_multi(redis.addr)


def _pause_in_multi(addr, k):
    with Conn(addr) as c, Conn(addr) as w:
        assert c.call("MULTI") == "OK"
        out = [c.call_raw("CLIENT", "PAUSE", "5000", "WRITE"), c.call_raw("EXEC")]
        # A write from another client is held by the pause, a read is not.
        w.send_cmd("SET", k, "1")
        out.append(c.call_raw("GET", k))
        assert c.call("MULTI") == "OK"
        out += [c.call_raw("CLIENT", "UNPAUSE"), c.call_raw("EXEC")]
        out.append(w.read_raw(timeout=5))
        out.append(c.call_raw("GET", k))
        return out


def test_client_pause_and_unpause_inside_multi_as_on_redis(proxy, redis, key):
    """CLIENT PAUSE / UNPAUSE act on the whole server, as direct: queued and run by EXEC."""
    want = _pause_in_multi(redis.addr, key + "direct")
    assert want == [b"+QUEUED\r\n", b"*1\r\n+OK\r\n", b"$-1\r\n", b"+QUEUED\r\n", b"*1\r\n+OK\r\n", b"+OK\r\n", b"$1\r\n1\r\n"]
    assert _pause_in_multi(proxy.addr, key + "proxied") == want


def _eval_connection_commands(addr):
    with Conn(addr) as c:
        return [c.call_raw("EVAL", f"return redis.call({args})", "0") for args in
                ("'client','kill','type','normal'", "'client','pause','100'", "'client','reply','off'",
                 "'client','no-evict','on'", "'client','id'", "'hello','3'", "'reset'")]


def test_scripts_cannot_reach_connection_commands(proxy, redis):
    """Redis flags CLIENT, HELLO and RESET noscript: a script through Respite gets Redis's own
    refusal, and Respite's connections stay as they were."""
    want = _eval_connection_commands(redis.addr)
    assert all(w.startswith(b"-ERR This Redis command is not allowed from script") for w in want)
    with Conn(proxy.addr) as other:
        assert _eval_connection_commands(proxy.addr) == want
        assert other.call("PING") == "PONG"


def _publish_count(r, channel):
    with Conn(r.addr) as d:
        return d.call("PUBLISH", channel, "x")


@pytest.mark.respite_only
@pytest.mark.parametrize("cmd", ["SUBSCRIBE", "PSUBSCRIBE"])
def test_subscribe_inside_multi_leaves_no_subscribed_connection_behind(procs, key, cmd):
    """Redis 7.0 runs a SUBSCRIBE queued in MULTI. Through Respite it would subscribe the pinned
    connection behind Respite's back, and that connection would go back to the pool with the
    subscription alive, for the next client to receive its messages: refused while queueing."""
    r = procs.redis()
    p = procs.respite(r.port)
    channel = key + "ch"
    with Conn(p.addr) as x:
        assert x.call("MULTI") == "OK"
        refused = x.call_raw(cmd, channel)
        execed = x.call_raw("EXEC")
        x.call("PING")
    with Conn(p.addr) as y:
        hello3(y)
        assert y.call("MULTI") == "OK"
        assert _publish_count(r, channel) == 0, "an upstream connection is still subscribed"
        assert y.call("EXEC") == []
        assert y.call("PING") == "PONG", "no message reached an unrelated client"
    assert refused.startswith(b"-ERR Respite: " + cmd.encode() + b" is not allowed inside MULTI")
    assert execed == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
