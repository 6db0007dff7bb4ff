"""Transactions as clients that wait for each reply drive them (redis-rb, phpredis, hiredis):
connection state queued inside MULTI, WATCH across SELECT, and a transaction that cannot get
its dedicated upstream connection, which must never run in pieces."""

import threading

import pytest

from harness import Conn, cmd, hello3, make_target, wait_until


def one_by_one(ep, commands, proto=2, timeout=5.0):
    """Sends each command only after the previous reply arrived, as most client libraries do."""
    out = []
    with Conn(ep.addr, timeout=timeout) as c:
        if proto == 3:
            hello3(c)
        for args in commands:
            c.send_cmd(*args)
            out.append(c.read_raw(timeout=timeout))
    return out


@pytest.mark.parametrize("ending", ["EXEC", "DISCARD"])
@pytest.mark.parametrize("queued", [("SELECT", "4"), ("CLIENT", "SETNAME", "tx")])
def test_connection_state_queued_in_multi_answers_at_once(proxy, redis, queued, ending):
    """MULTI; <SELECT|CLIENT SETNAME>; EXEC|DISCARD, one reply at a time, answers as redis."""
    commands = [("MULTI",), queued, (ending,), ("PING",)]
    want = one_by_one(redis, commands)
    got = one_by_one(proxy, commands, timeout=3.0)
    assert got == want


@pytest.mark.respite_only
@pytest.mark.parametrize("queued", [("HELLO", "2"), ("AUTH", "x"), ("CLIENT", "ID")])
def test_connection_commands_queued_in_multi_do_not_hang_exec(proxy, queued):
    """EXEC answers at once when HELLO, AUTH or CLIENT ID was sent in MULTI: CLIENT ID is queued
    and answered for the client; HELLO and AUTH, which would change Respite's upstream
    connection instead of the client, are refused while queueing and EXEC aborts."""
    got = one_by_one(proxy, [("MULTI",), queued, ("EXEC",), ("PING",)], timeout=3.0)
    if queued[0] == "CLIENT":
        assert got[1] == b"+QUEUED\r\n"
        assert got[2].startswith(b"*1\r\n:")
    else:
        assert got[1].startswith(b"-ERR Respite: " + queued[0].encode() + b" is not allowed inside MULTI")
        assert got[2] == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    assert got[3] == b"+PONG\r\n"


def test_watch_across_select_lets_exec_run(proxy, redis, key):
    """SELECT 5; SET x; WATCH x; SELECT 1; SET x; SELECT 5; MULTI; PING; EXEC → [PONG], as redis."""
    k = key + "x"
    commands = [("SELECT", "5"), ("SET", k, "30"), ("WATCH", k), ("SELECT", "1"), ("SET", k, "10"),
                ("SELECT", "5"), ("MULTI",), ("PING",), ("EXEC",)]
    want = one_by_one(redis, commands)
    assert want[-1] == b"*1\r\n+PONG\r\n"
    for db in ("1", "5"):
        one_by_one(redis, [("SELECT", db), ("DEL", k)])
    got = one_by_one(proxy, commands, timeout=3.0)
    assert got == want
    # The SET in db 1 went to db 1, not to the watched connection's db 5.
    assert one_by_one(redis, [("SELECT", "1"), ("GET", k)])[1] == b"$2\r\n10\r\n"
    assert one_by_one(redis, [("SELECT", "5"), ("GET", k)])[1] == b"$2\r\n30\r\n"


@pytest.mark.respite_only
def test_transaction_without_its_connection_never_runs_in_pieces(procs):
    """At upstream-pinned-max, MULTI gets an error and the pipelined rest of the transaction
    is refused up to EXEC (EXECABORT); nothing of it runs outside a transaction."""
    t = make_target(procs, respite_args=("--upstream-pinned-max", "1"))
    holder = Conn(t.proxy.addr)
    holder.send_cmd("BLPOP", "tx:never", "0")          # takes the only dedicated connection
    with Conn(t.redis.addr) as r:
        wait_until(lambda: b"cmd=blpop" in r.call_raw("CLIENT", "LIST"), 5, "BLPOP upstream")
    with Conn(t.proxy.addr) as c:
        c.send(cmd("MULTI") + cmd("SET", "tx:a", "1") + cmd("INCR", "tx:b") + cmd("EXEC") + cmd("GET", "tx:a"))
        replies = [c.read_raw() for _ in range(5)]
    assert replies[0].startswith(b"-ERR Respite: too many dedicated upstream connections")
    assert replies[1].startswith(b"-ERR Respite: command not queued")
    assert replies[2].startswith(b"-ERR Respite: command not queued")
    assert replies[3] == b"-EXECABORT Transaction discarded because of previous errors.\r\n"
    assert replies[4] == b"$-1\r\n"                    # after EXEC, commands run again
    with Conn(t.redis.addr) as r:
        assert r.call_raw("EXISTS", "tx:a", "tx:b") == b":0\r\n"
    holder.close()


@pytest.mark.respite_only
def test_transaction_whose_connection_is_refused_never_runs_in_pieces(procs):
    """The upstream refuses the dedicated connection's handshake (maxclients): MULTI and the
    commands pipelined after it all fail, none of them runs, and the client can carry on."""
    r = procs.redis(args=("--maxclients", "1"))
    p = procs.respite(r.port)                          # its shared connection is the one client
    with Conn(p.addr) as c:
        assert c.call_raw("SET", "tx:warm", "1") == b"+OK\r\n"
        c.send(cmd("MULTI") + cmd("SET", "tx:a", "1") + cmd("INCR", "tx:b") + cmd("EXEC"))
        replies = [c.read_raw() for _ in range(4)]
        assert all(x.startswith(b"-") for x in replies), replies
        assert c.call_raw("EXISTS", "tx:a", "tx:b") == b":0\r\n"
        assert c.call_raw("GET", "tx:warm") == b"$1\r\n1\r\n"
