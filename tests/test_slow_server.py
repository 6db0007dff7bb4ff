"""A slow server is not a dead server: requests already queued behind a busy script or a
CLIENT PAUSE keep waiting (as on Redis) instead of failing; another client's next command gets
what Redis would answer it direct (-BUSY at once, even when a new connection's handshake meets
the busy script), not a wait behind the script; SCRIPT KILL gets through while the shared
connection is stuck behind the script; only a server that answers nothing (DEBUG SLEEP) fails
requests, with the outcome-unknown error."""

import select

import pytest

from harness import Conn, Error, wait_until

pytestmark = pytest.mark.respite_only

TIMEOUT = ("--upstream-timeout", "1s")
REDIS = ("--busy-reply-threshold", "100", "--enable-debug-command", "yes")
SPIN = "while true do end"


def start(procs, *extra):
    r = procs.redis(args=REDIS)
    return r, procs.respite(r.port, args=TIMEOUT + extra)


NO_STALL_GUARD = ("--upstream-stall-timeout", "0")


def start_spinning(r, a, c, key, kind, wait=True):
    """`c` sets `key` to v; `a` starts a script (or function) that never ends by itself; with
    `wait`, returns once the server is busy with it."""
    assert c.call("SET", key, "v") == "OK"
    if kind == "function":
        lib = f"#!lua name=spinlib\nredis.register_function('spin', function() {SPIN} end)"
        assert c.call("FUNCTION", "LOAD", lib) == b"spinlib"
        a.send_cmd("FCALL", "spin", "0")
    else:
        a.send_cmd("EVAL", SPIN, "0")
    if wait:
        wait_until(lambda: busy(r), 5, "the script to be busy")


def busy(redis_ep):
    with Conn(redis_ep.addr, timeout=2) as d:
        reply = d.call("PING")
        return isinstance(reply, Error) and reply.startswith("BUSY")


def replied(conn):
    """Whether a reply (or a close) arrived: waiting on it must not have ended yet."""
    return bool(conn.pending()) or bool(select.select([conn.sock], [], [], 0)[0])


def wait_past_timeout(proxy, waiting, log_text, what):
    """Waits until Respite has outwaited upstream-timeout (its log says so) while `waiting` still
    has no reply; before the fix the reply is Respite's own error instead."""
    wait_until(lambda: log_text in proxy.process.log() or replied(waiting), 10, what)
    assert not replied(waiting), f"got a reply instead of waiting: {waiting.read()!r}"


@pytest.mark.parametrize("kind", ["script", "function"])
def test_busy_script_past_the_timeout_waits_and_kill_gets_through(procs, key, kind):
    """The script's own client pipelines a GET behind it: both outwait upstream-timeout without
    an error (the server answers the probe), the kill gets through from another client, and
    the GET is then answered."""
    r, proxy = start(procs)
    with Conn(proxy.addr, timeout=20) as a, Conn(proxy.addr, timeout=20) as b, Conn(proxy.addr, timeout=20) as c:
        start_spinning(r, a, c, key, kind)
        a.send_cmd("GET", key)          # behind the script, on the same connection, as direct
        # The danger: the requests outwait upstream-timeout. Respite must find the server alive.
        wait_past_timeout(proxy, a, "slow but alive", "a liveness probe answered past the timeout")
        assert b.call(kind.upper(), "KILL") == "OK"
        killed = a.read()
        assert isinstance(killed, Error) and "Script killed" in killed and "Respite" not in killed, killed
        assert a.read() == b"v"
        assert c.call("PING") == "PONG"


def test_liveness_probe_reaches_an_upstream_given_by_name(procs, key):
    """With `--upstream localhost:PORT`, the liveness probe's socket is dialed like the pool's
    (the name looked up on the loop, then each address): it finds the busy server alive, so the
    requests behind the script keep waiting instead of failing."""
    r = procs.redis(args=REDIS)
    proxy = procs.respite(r.port, args=TIMEOUT + ("--upstream", f"localhost:{r.port}"))
    with Conn(proxy.addr, timeout=20) as a, Conn(proxy.addr, timeout=20) as b, Conn(proxy.addr, timeout=20) as c:
        start_spinning(r, a, c, key, "script")
        a.send_cmd("GET", key)
        wait_past_timeout(proxy, a, "slow but alive", "a liveness probe answered past the timeout")
        assert "is not answering" not in proxy.process.log()
        assert b.call("SCRIPT", "KILL") == "OK"
        killed = a.read()
        assert isinstance(killed, Error) and "Script killed" in killed, killed
        assert a.read() == b"v"


@pytest.mark.parametrize("kind", ["script", "function"])
def test_another_clients_command_gets_busy_at_once_as_direct(procs, key, kind):
    """With the stall guard (default), the shared connection stuck behind the script is set
    aside: another client's GET gets Redis's own -BUSY at once, not a wait behind the script;
    the kill gets through and the GET then works."""
    r, proxy = start(procs)
    with Conn(proxy.addr, timeout=20) as a, Conn(proxy.addr, timeout=20) as b, Conn(proxy.addr, timeout=20) as c:
        start_spinning(r, a, c, key, kind)
        def answered_busy():
            reply = c.call("GET", key)
            assert reply == b"v" or (isinstance(reply, Error) and reply.startswith("BUSY ")), reply
            return reply != b"v"
        wait_until(answered_busy, 5, "another client's GET to get -BUSY as direct")
        assert b.call(kind.upper(), "KILL") == "OK"
        killed = a.read()
        assert isinstance(killed, Error) and "Script killed" in killed, killed
        assert c.call("GET", key) == b"v"


def test_handshake_meeting_busy_answers_busy_then_retries(procs, key):
    """A new connection's handshake (SELECT 5) meets the busy script: the request held for it
    gets -BUSY, as Redis answers it direct, instead of an unavailable error; the handshake is
    retried, so after SCRIPT KILL the same client's commands run in db 5."""
    r, proxy = start(procs)
    with Conn(r.addr, timeout=20) as d, Conn(proxy.addr, timeout=20) as c, Conn(proxy.addr, timeout=20) as k:
        d.send_cmd("EVAL", SPIN, "0")
        wait_until(lambda: busy(r), 5, "the script to be busy")
        assert c.call("SELECT", "5") == "OK"     # db 5 has no shared connection yet: a handshake
        reply = c.call("SET", key, "during")
        assert isinstance(reply, Error) and reply.startswith("BUSY "), reply
        assert k.call("SCRIPT", "KILL") == "OK"
        assert isinstance(d.read(), Error)
        wait_until(lambda: c.call("SET", key, "after") == "OK", 10, "the handshake to complete")
    with Conn(r.addr) as d:
        assert d.call("SELECT", "5") == "OK" and d.call("GET", key) == b"after"


def test_client_pause_write_past_the_timeout_is_waited_out(procs, key):
    r, proxy = start(procs)
    with Conn(r.addr, timeout=20) as d, Conn(proxy.addr, timeout=20) as c:
        assert c.call("PING") == "PONG"
        assert d.call("CLIENT", "PAUSE", "30000", "WRITE") == "OK"
        c.send_cmd("SET", key, "paused")
        wait_past_timeout(proxy, c, "slow but alive", "a liveness probe answered during the pause")
        assert d.call("CLIENT", "UNPAUSE") == "OK"
        assert c.read() == "OK"


def test_server_that_answers_nothing_fails_requests_as_outcome_unknown(procs, key):
    r, proxy = start(procs)
    with Conn(r.addr, timeout=20) as d, Conn(proxy.addr, timeout=20) as c:
        assert c.call("PING") == "PONG"
        d.send_cmd("DEBUG", "SLEEP", "6")
        wait_until(lambda: not _answers(r), 5, "redis to stop answering")
        reply = c.call("SET", key, "v")
        assert isinstance(reply, Error) and "outcome is unknown" in reply and "liveness probe" in reply, reply
        assert d.read() == "OK"


def test_handshake_to_a_server_that_answers_nothing_fails_its_requests(procs, key):
    """A new connection's handshake meets a server that answers nothing: the requests held
    behind it fail once a probe goes unanswered, instead of hanging for as long as the server
    does."""
    r, proxy = start(procs)
    with Conn(r.addr, timeout=20) as d, Conn(proxy.addr, timeout=20) as c:
        assert c.call("PING") == "PONG"
        d.send_cmd("DEBUG", "SLEEP", "5")
        wait_until(lambda: not _answers(r), 5, "redis to stop answering")
        assert c.call("SELECT", "7") == "OK"     # db 7 has no shared connection yet: a handshake
        reply = c.call("GET", key)
        assert isinstance(reply, Error) and "liveness probe" in reply, reply
        assert d.read() == "OK"


def _answers(redis_ep):
    try:
        with Conn(redis_ep.addr, timeout=0.3) as x:
            return x.call("PING") == "PONG"
    except (TimeoutError, OSError):
        return False


def test_client_pause_write_holds_only_the_writer(procs, key):
    """CLIENT PAUSE WRITE through Respite: Redis holds the write, and only its own client waits
    (it went on a connection of its own); another client's reads answer at once, as direct.
    The stall guard is off, so this is the pause routing alone."""
    r, proxy = start(procs, *NO_STALL_GUARD)
    with Conn(proxy.addr, timeout=20) as admin, Conn(proxy.addr, timeout=20) as w, \
            Conn(proxy.addr, timeout=20) as reader:
        assert reader.call("PING") == "PONG"
        assert admin.call("CLIENT", "PAUSE", "20000", "WRITE") == "OK"
        w.send_cmd("SET", key, "held")
        wait_until(lambda: b"blocked_clients:1" in reader.call("INFO", "clients"), 5, "the write to be held")
        assert reader.call("GET", key) is None
        assert not replied(w)
        assert admin.call("CLIENT", "UNPAUSE") == "OK"
        assert w.read() == "OK"
        assert reader.call("GET", key) == b"held"


@pytest.mark.parametrize("kind", ["script", "function"])
def test_script_runs_on_its_callers_own_connection(procs, key, kind):
    """Another client's GET sent right behind a long script is never queued behind it: it is
    answered (v before the script starts, -BUSY after) as it would be direct. The stall guard
    is off, so this is the scripts' own connection alone."""
    r, proxy = start(procs, *NO_STALL_GUARD)
    with Conn(proxy.addr, timeout=20) as a, Conn(proxy.addr, timeout=20) as b, Conn(proxy.addr, timeout=5) as c:
        start_spinning(r, a, c, key, kind, wait=False)
        for _ in range(20):
            reply = c.call("GET", key)
            assert reply == b"v" or (isinstance(reply, Error) and reply.startswith("BUSY ")), reply
        wait_until(lambda: busy(r), 5, "the script to be busy")
        assert b.call(kind.upper(), "KILL") == "OK"
        assert "Script killed" in a.read()


def test_script_without_a_free_dedicated_connection_runs_shared(procs, key):
    """At upstream-pinned-max, a script still runs (on the shared connection, as before),
    instead of failing for want of a connection of its own."""
    r = procs.redis(args=REDIS)
    proxy = procs.respite(r.port, args=TIMEOUT + ("--upstream-pinned-max", "1"))
    with Conn(proxy.addr, timeout=10) as holder, Conn(proxy.addr, timeout=10) as c:
        holder.send_cmd("BLPOP", key + "never", "0")   # takes the only dedicated connection
        with Conn(r.addr) as d:
            wait_until(lambda: b"cmd=blpop" in d.call_raw("CLIENT", "LIST"), 5, "BLPOP upstream")
        assert c.call_raw("EVAL", "return 7", "0") == b":7\r\n"
