"""Session commands Respite answers itself (HELLO, AUTH, SELECT, CLIENT ..., RESET,
QUIT) behave as redis-server's own, checked against a direct connection."""

import pytest

from harness import DIRECT, Conn, RespMap, Verbatim, cmd, hello3, make_target, wait_until

PW = "s3cret"


def script(ep, commands, proto=2, end_marker=True):
    """Send commands in one write; return the raw reply frames up to an ECHO marker."""
    with Conn(ep.addr) as c:
        if proto == 3:
            hello3(c)
        payload = b"".join(cmd(*x) for x in commands)
        if end_marker:
            payload += cmd("ECHO", "end-of-script")
        c.send(payload)
        frames = []
        for _ in range(len(commands) + 1):
            f = c.read_raw()
            if end_marker and f == b"$13\r\nend-of-script\r\n":
                return frames
            frames.append(f)
        return frames


def assert_same(proxy, redis, commands, proto=2, prep=None):
    if prep:
        prep()
    want = script(redis, commands, proto)
    if prep:
        prep()
    got = script(proxy, commands, proto)
    diffs = [(c, w, g) for c, w, g in zip(commands, want, got) if w != g]
    assert len(want) == len(got) and not diffs, (
        f"replies differ from redis (RESP{proto}):\n" +
        "\n".join(f"  {c}: redis {w!r} respite {g!r}" for c, w, g in diffs) +
        f"\n  counts: redis {len(want)} respite {len(got)}")
    return got


def hello_map(ep, *args):
    with Conn(ep.addr) as c:
        reply = c.call("HELLO", *args)
    if isinstance(reply, list) and not isinstance(reply, RespMap):
        return RespMap(list(zip(reply[0::2], reply[1::2])))
    return reply


# --- HELLO ------------------------------------------------------------------

@pytest.mark.parametrize("proto", ["2", "3"])
def test_hello_reply_has_redis_shape(proxy, redis, proto):
    """HELLO 2/3 returns the same field names as redis, with proto set right."""
    mine, theirs = hello_map(proxy, proto), hello_map(redis, proto)
    assert isinstance(mine, RespMap), mine
    assert mine.keys() == theirs.keys()
    assert mine.get(b"proto") == int(proto)
    assert isinstance(mine.get(b"id"), int)
    assert isinstance(mine.get(b"version"), bytes)


def test_hello_3_reply_is_a_resp3_map_and_hello_2_a_flat_array(proxy):
    """HELLO 3 answers with a RESP3 map (%), HELLO 2 with a RESP2 array (*)."""
    with Conn(proxy.addr) as c:
        assert c.call_raw("HELLO", "2").startswith(b"*14\r\n")
        assert c.call_raw("HELLO", "3").startswith(b"%7\r\n")
        assert c.call_raw("HELLO", "2").startswith(b"*14\r\n")


def test_hello_without_version_reports_current_protocol(proxy):
    """Bare HELLO keeps the protocol and reports it."""
    with Conn(proxy.addr) as c:
        hello3(c)
        reply = c.call("HELLO")
        assert isinstance(reply, RespMap) and reply.get(b"proto") == 3


def test_hello_bad_protocol_errors_match_redis(proxy, redis):
    """Unsupported or malformed protocol versions give redis's exact errors (NOPROTO)."""
    got = assert_same(proxy, redis, [("HELLO", "4"), ("HELLO", "1"), ("HELLO", "abc"), ("HELLO", "3", "BADOPT"),
                                     ("HELLO", "3", "AUTH", "onlyuser"), ("PING",)])
    assert got[0].startswith(b"-NOPROTO")


def test_hello_setname_sets_the_name(proxy, redis):
    """HELLO 3 SETNAME n names the connection (CLIENT GETNAME shows it)."""
    with Conn(proxy.addr) as c:
        assert isinstance(c.call("HELLO", "3", "SETNAME", "hello-name"), RespMap)
        assert c.call_raw("CLIENT", "GETNAME") == b"$10\r\nhello-name\r\n"


def test_failed_hello_keeps_protocol_2(proxy, redis):
    """A rejected HELLO 4 leaves the connection in RESP2."""
    assert_same(proxy, redis, [("HELLO", "4"), ("GET", "no-such-key-hello"), ("HGETALL", "no-such-key-hello")])


# --- AUTH -------------------------------------------------------------------

def test_auth_without_requirepass_matches_redis(proxy, redis):
    """AUTH when no password is configured gives redis's exact texts."""
    assert_same(proxy, redis, [("AUTH", "x"), ("AUTH", "nosuchuser", "x"), ("AUTH", "a", "b", "c"), ("AUTH",),
                               ("PING",)])


@pytest.fixture
def locked(procs):
    """(proxy with a password, reference redis-server with the same requirepass)."""
    t = make_target(procs, password=PW)
    ref = t.proxy if DIRECT else procs.redis(password=PW)
    return t.proxy, ref


def test_requirepass_noauth_wrongpass_then_ok(locked):
    """With requirepass: NOAUTH before AUTH, WRONGPASS on a bad one, OK on the good one."""
    proxy, ref = locked
    commands = [("GET", "k"), ("PING",), ("SET", "k", "v"), ("AUTH", "wrong"), ("AUTH", "default", "wrong"),
                ("GET", "k"), ("AUTH", PW), ("SET", "k", "v"), ("GET", "k"), ("AUTH", "default", PW), ("DEL", "k")]
    want = script_noauth(ref, commands)
    got = script_noauth(proxy, commands)
    assert got == want, "\n".join(f"{c}: redis {w!r} respite {g!r}" for c, w, g in zip(commands, want, got) if w != g)
    assert got[0] == b"-NOAUTH Authentication required.\r\n"
    assert got[3].startswith(b"-WRONGPASS")
    assert got[6] == b"+OK\r\n"


def script_noauth(ep, commands):
    with Conn(ep.addr) as c:
        c.send(b"".join(cmd(*x) for x in commands))
        return [c.read_raw() for _ in commands]


def test_hello_auth_under_requirepass(locked):
    """HELLO without AUTH is refused as redis does; HELLO 3 AUTH default PW SETNAME n succeeds."""
    proxy, ref = locked
    for ep in (ref, proxy):
        with Conn(ep.addr) as c:
            first = c.call_raw("HELLO", "3")
            bad = c.call_raw("HELLO", "3", "AUTH", "default", "nope")
            ok = c.call("HELLO", "3", "AUTH", "default", PW, "SETNAME", "authed")
            name = c.call_raw("CLIENT", "GETNAME")
        if ep is ref:
            want = (first, bad, name)
        else:
            assert isinstance(ok, RespMap) and ok.get(b"proto") == 3
            assert (first, bad, name) == want


def test_requirepass_blocks_session_commands_like_redis(locked):
    """Before AUTH, SELECT/CLIENT/ECHO are refused with NOAUTH like redis; QUIT still answers."""
    proxy, ref = locked
    commands = [("SELECT", "1"), ("CLIENT", "GETNAME"), ("CLIENT", "SETNAME", "x"), ("ECHO", "x"), ("QUIT",)]
    assert script_noauth(proxy, commands) == script_noauth(ref, commands)


# --- SELECT -----------------------------------------------------------------

def test_select_isolates_databases(proxy, redis, key):
    """SET in db 1 through Respite is invisible in db 0, and redis agrees."""
    k = key + "sel"
    with Conn(proxy.addr) as a, Conn(proxy.addr) as b, Conn(redis.addr) as d:
        assert a.call("SELECT", "1") == "OK"
        assert a.call("SET", k, "in-db1") == "OK"
        assert b.call("GET", k) is None
        assert a.call("GET", k) == b"in-db1"
        assert d.call("GET", k) is None
        assert d.call("SELECT", "1") == "OK"
        assert d.call("GET", k) == b"in-db1"
        assert a.call("SELECT", "0") == "OK"
        assert a.call("GET", k) is None
        d.call("DEL", k)


def test_select_switches_inside_one_pipeline(proxy, redis, key):
    """SELECT between pipelined writes routes each command to the right db."""
    k = key + "p"
    commands = [("SELECT", "2"), ("SET", k, "two"), ("SELECT", "3"), ("SET", k, "three"), ("SELECT", "2"),
                ("GET", k), ("SELECT", "3"), ("GET", k), ("SELECT", "0"), ("GET", k), ("SELECT", "2"), ("DEL", k),
                ("SELECT", "3"), ("DEL", k)]
    got = assert_same(proxy, redis, commands)
    assert got[5] == b"$3\r\ntwo\r\n" and got[7] == b"$5\r\nthree\r\n" and got[9] == b"$-1\r\n"


def test_select_errors_match_redis(proxy, redis):
    """Out-of-range and non-numeric SELECT give redis's exact errors."""
    assert_same(proxy, redis, [("SELECT", "16"), ("SELECT", "-1"), ("SELECT", "x"), ("SELECT",),
                               ("SELECT", "1", "2"), ("SELECT", "15"), ("SELECT", "0")])


# --- CLIENT -----------------------------------------------------------------

@pytest.mark.parametrize("proto", [2, 3])
def test_client_setname_getname_match_redis(proxy, redis, proto):
    """CLIENT SETNAME/GETNAME replies and errors equal redis's."""
    assert_same(proxy, redis, [("CLIENT", "GETNAME"), ("CLIENT", "SETNAME", "has space"), ("CLIENT", "SETNAME", "n1"),
                               ("CLIENT", "GETNAME"), ("CLIENT", "SETNAME", ""), ("CLIENT", "GETNAME"),
                               ("CLIENT", "SETNAME"), ("CLIENT", "GETNAME", "extra"), ("CLIENT", "NOSUCHSUB")],
                proto=proto)


def test_client_id_is_stable_per_connection_and_unique(proxy):
    """CLIENT ID is an integer, the same on one connection, different across connections."""
    with Conn(proxy.addr) as a, Conn(proxy.addr) as b:
        ida, ida2, idb = a.call("CLIENT", "ID"), a.call("CLIENT", "ID"), b.call("CLIENT", "ID")
    assert isinstance(ida, int) and ida == ida2 and ida != idb


@pytest.mark.skipif(DIRECT, reason="Respite's own client ids")
def test_client_ids_start_at_one_and_only_grow(procs):
    """As on Redis, the first client is id 1 and ids are never reused: a client that connects
    after another has gone gets a larger id; CLIENT LIST shows the same ids."""
    r = procs.redis()
    ep = procs.respite(r.port, wait="none")
    # Wait on the log, not on a connection: every connection takes an id.
    wait_until(lambda: "Ready to accept connections" in ep.process.log(), 10, "respite listening")
    with Conn(ep.addr) as a:
        assert a.call("CLIENT", "ID") == 1
        with Conn(ep.addr) as b:
            assert b.call("CLIENT", "ID") == 2
            listed = sorted(int(kv[3:]) for line in a.call("CLIENT", "LIST").decode().splitlines()
                            for kv in line.split() if kv.startswith("id="))
            assert listed == [1, 2]
    with Conn(ep.addr) as c:
        assert c.call("CLIENT", "ID") == 3


def test_client_info_reflects_session(proxy, redis):
    """CLIENT INFO shows the session's name, db and protocol; RESP3 gets a verbatim string like redis."""
    with Conn(proxy.addr) as c:
        c.call("CLIENT", "SETNAME", "infoname")
        c.call("SELECT", "4")
        info = c.call("CLIENT", "INFO")
        assert isinstance(info, bytes)
        fields = dict(kv.split("=", 1) for kv in info.decode().split() if "=" in kv)
        assert fields.get("name") == "infoname" and fields.get("db") == "4" and fields.get("resp") == "2"
        assert "id" in fields and fields["id"] == str(c.call("CLIENT", "ID"))
        hello3(c)
        info3 = c.call("CLIENT", "INFO")
    with Conn(redis.addr) as d:
        hello3(d)
        ref3 = d.call("CLIENT", "INFO")
    assert type(info3) is type(ref3), (info3, ref3)
    text = info3.text if isinstance(info3, Verbatim) else info3
    assert b"resp=3" in text


@pytest.mark.respite_only
def test_client_setinfo_is_accepted(proxy):
    """CLIENT SETINFO lib-name/lib-ver answers +OK (redis-py sends it on connect)."""
    with Conn(proxy.addr) as c:
        assert c.call_raw("CLIENT", "SETINFO", "lib-name", "mylib") == b"+OK\r\n"
        assert c.call_raw("CLIENT", "SETINFO", "lib-ver", "1.2.3") == b"+OK\r\n"
        assert c.call_raw("PING") == b"+PONG\r\n"


def test_client_no_evict_matches_redis(proxy, redis):
    """CLIENT NO-EVICT ON/OFF and its bad-argument error equal redis's."""
    assert_same(proxy, redis, [("CLIENT", "NO-EVICT", "ON"), ("CLIENT", "NO-EVICT", "OFF"),
                               ("CLIENT", "NO-EVICT", "maybe")])


def test_client_reply_off_on_skip_match_redis(proxy, redis, key):
    """CLIENT REPLY OFF silences until ON; SKIP drops exactly the next reply; as redis."""
    k = key + "r"
    commands = [("SET", k, "0"), ("CLIENT", "REPLY", "OFF"), ("SET", k, "1"), ("GET", k), ("CLIENT", "GETNAME"),
                ("PING",), ("CLIENT", "REPLY", "ON"), ("GET", k), ("CLIENT", "REPLY", "SKIP"), ("SET", k, "2"),
                ("GET", k), ("CLIENT", "REPLY", "SKIP"), ("CLIENT", "ID"), ("PING",), ("CLIENT", "REPLY", "bad"),
                ("DEL", k)]
    got = assert_same(proxy, redis, commands)
    assert got == [b"+OK\r\n", b"+OK\r\n", b"$1\r\n1\r\n", b"$1\r\n2\r\n", b"+PONG\r\n", got[5], b":1\r\n"]
    assert got[5].startswith(b"-ERR")


# --- RESET and QUIT ---------------------------------------------------------

def test_reset_restores_defaults(proxy, redis, key):
    """RESET answers +RESET and returns to RESP2, db 0, no name, no transaction."""
    k = key + "x"
    commands = [("HELLO", "3"), ("SELECT", "5"), ("CLIENT", "SETNAME", "before"), ("SET", k, "db5"),
                ("MULTI",), ("SET", k, "queued"), ("RESET",), ("CLIENT", "GETNAME"), ("GET", k), ("EXEC",),
                ("HGETALL", k), ("SELECT", "5"), ("GET", k), ("DEL", k)]
    with Conn(redis.addr) as c:
        c.send(b"".join(cmd(*x) for x in commands))
        want = [c.read() if i == 0 else c.read_raw() for i, _ in enumerate(commands)]
    with Conn(proxy.addr) as c:
        c.send(b"".join(cmd(*x) for x in commands))
        got = [c.read() if i == 0 else c.read_raw() for i, _ in enumerate(commands)]
    assert got[6] == b"+RESET\r\n" and got[7] == b"$-1\r\n" and got[8] == b"$-1\r\n"
    assert got[1:] == want[1:], list(zip(commands[1:], want[1:], got[1:]))


def test_reset_leaves_subscribed_mode(proxy, redis):
    """RESET in RESP2 subscribed mode unsubscribes; normal commands work again."""
    commands = [("SUBSCRIBE", "reset-ch"), ("RESET",), ("GET", "no-such-key-reset"), ("PING",)]
    assert_same(proxy, redis, commands)


def test_quit_replies_ok_then_closes(proxy):
    """QUIT answers +OK, later pipelined commands get nothing, and the server closes."""
    with Conn(proxy.addr) as c:
        c.send(cmd("PING") + cmd("QUIT") + cmd("PING"))
        assert c.read_raw() == b"+PONG\r\n"
        assert c.read_raw() == b"+OK\r\n"
        assert c.wait_closed(5.0) == b""


# --- local/forwarded ordering -------------------------------------------------

def test_pipelined_local_and_forwarded_commands_keep_order(proxy, redis, key):
    """One write mixing local (CLIENT, SELECT, HELLO) and forwarded commands gets replies in order."""
    k = key + "o"
    commands = [("SET", k, "1"), ("CLIENT", "GETNAME"), ("GET", k), ("PING",), ("CLIENT", "SETNAME", "ord"),
                ("INCR", k), ("CLIENT", "GETNAME"), ("ECHO", "x"), ("SELECT", "1"), ("GET", k), ("SELECT", "0"),
                ("GET", k), ("CLIENT", "NO-EVICT", "OFF"), ("LPUSH", k + "l", "a", "b"), ("HELLO", "4"),
                ("LRANGE", k + "l", "0", "-1"), ("DEL", k, k + "l")]
    assert_same(proxy, redis, commands)


def test_long_pipeline_alternating_local_and_forwarded(proxy, redis, key):
    """2,000 alternating local and forwarded commands in one write come back in order."""
    commands = []
    for i in range(500):
        commands += [("SET", f"{key}{i}", str(i)), ("CLIENT", "GETNAME"), ("GET", f"{key}{i}"),
                     ("CLIENT", "SETNAME", f"n{i}")]
    commands.append(("DEL",) + tuple(f"{key}{i}" for i in range(500)))
    assert_same(proxy, redis, commands)


@pytest.mark.respite_only
def test_client_maint_notifications_is_answered_locally(proxy, redis, key):
    """CLIENT MAINT_NOTIFICATIONS ON gets +OK and never reaches redis (checked with MONITOR)."""
    marker = key + "marker"
    with Conn(proxy.addr) as c, Conn(redis.addr) as mon:
        assert c.call("SET", key + "warm", "1") == "OK"
        assert mon.call("MONITOR") == "OK"
        replies = []
        c.send(cmd("CLIENT", "MAINT_NOTIFICATIONS", "ON") + cmd("CLIENT", "MAINT_NOTIFICATIONS", "OFF") +
               cmd("SET", marker, "1"))
        replies = [c.read_raw() for _ in range(3)]
        assert replies[:2] == [b"+OK\r\n", b"+OK\r\n"], replies
        lines = []
        for _ in range(10_000):
            line = mon.read(timeout=5.0)
            lines.append(line)
            if marker.encode() in line.encode():
                break
        else:
            raise AssertionError("marker never seen on MONITOR")
        leaked = [ln for ln in lines if ln.endswith('"MAINT_NOTIFICATIONS" "ON"') or
                  ln.endswith('"MAINT_NOTIFICATIONS" "OFF"')]
        assert not leaked, leaked
        c.call("DEL", key + "warm", marker)
