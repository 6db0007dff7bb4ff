"""A slow server is not a dead server: a busy script, CLIENT PAUSE or a handshake that meets
-BUSY keeps requests waiting (as on Redis) instead of failing them; SCRIPT KILL gets through
while the shared connection is stuck behind the script; only a server that answers nothing
(DEBUG SLEEP) fails requests, with the outcome-unknown error."""

import select

import pytest

from harness import Conn, Error, wait_until

pytestmark = pytest.mark.respite_only

TIMEOUT = ("--upstream-timeout", "1s")
REDIS = ("--busy-reply-threshold", "100", "--enable-debug-command", "yes")
SPIN = "while true do end"


def start(procs):
    r = procs.redis(args=REDIS)
    return r, procs.respite(r.port, args=TIMEOUT)


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
    r, proxy = start(procs)
    with Conn(proxy.addr, timeout=20) as a, Conn(proxy.addr, timeout=20) as b, Conn(proxy.addr, timeout=20) as c:
        assert c.call("SET", key, "v") == "OK"
        if kind == "function":
            lib = f"#!lua name=spinlib\nredis.register_function('spin', function() {SPIN} end)"
            assert c.call("FUNCTION", "LOAD", lib) == b"spinlib"
            a.send_cmd("FCALL", "spin", "0")
        else:
            a.send_cmd("EVAL", SPIN, "0")
        wait_until(lambda: busy(r), 5, "the script to be busy")
        c.send_cmd("GET", key)          # queued on the shared connection behind the script
        # The danger: the requests outwait upstream-timeout. Respite must find the server alive.
        wait_past_timeout(proxy, c, "slow but alive", "a liveness probe answered past the timeout")
        assert not replied(a), f"the script's caller got a reply while it runs: {a.read()!r}"
        assert b.call(kind.upper(), "KILL") == "OK"
        killed = a.read()
        assert isinstance(killed, Error) and "Script killed" in killed and "Respite" not in killed, killed
        assert c.read() == b"v"
        assert c.call("PING") == "PONG"


def test_handshake_meeting_busy_retries_instead_of_failing(procs, key):
    r, proxy = start(procs)
    with Conn(r.addr, timeout=20) as d, Conn(proxy.addr, timeout=20) as c, Conn(proxy.addr, timeout=20) as k:
        d.send_cmd("EVAL", SPIN, "0")
        wait_until(lambda: busy(r), 5, "the script to be busy")
        assert c.call("SELECT", "5") == "OK"     # db 5 has no shared connection yet: a handshake
        c.send_cmd("SET", key, "after")
        wait_past_timeout(proxy, c, "handshake met BUSY", "the handshake to meet BUSY")
        assert k.call("SCRIPT", "KILL") == "OK"
        assert isinstance(d.read(), Error)
        assert c.read() == "OK"
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
