"""Commands the command table routes `.local` that Respite once forwarded without a handler:
READONLY and READWRITE are answered as a standalone redis-server 7.0 answers them, and a CLIENT
subcommand newer than the table (SETINFO, NO-TOUCH) has its arity checked before it is read."""

import pytest

from harness import Conn, cmd, hello3

CLUSTER_DISABLED = b"-ERR This instance has cluster support disabled\r\n"


def frames(ep, commands, proto):
    with Conn(ep.addr) as c:
        if proto == 3:
            hello3(c)
        c.send(b"".join(cmd(*x) for x in commands))
        return [c.read_raw() for _ in commands]


@pytest.mark.parametrize("proto", [2, 3])
def test_readonly_readwrite_answer_as_standalone_redis(proxy, redis, proto):
    """READONLY and READWRITE answer redis-server's error for a non-cluster instance, check
    arity as it does, and are queued in MULTI with that error in EXEC's reply."""
    commands = [("READONLY",), ("READWRITE",), ("readonly", "x"), ("READWRITE", "x"),
                ("MULTI",), ("READONLY",), ("EXEC",)]
    want = frames(redis, commands, proto)
    assert want[0] == want[1] == CLUSTER_DISABLED
    assert frames(proxy, commands, proto) == want


@pytest.mark.respite_only
def test_readonly_readwrite_are_answered_by_respite(proxy, redis):
    """Outside a transaction neither reaches the upstream: its command stats do not move."""
    def calls():
        with Conn(redis.addr) as d:
            stats = d.call("INFO", "commandstats").decode()
        counts = {}
        for line in stats.splitlines():
            for name in ("readonly", "readwrite"):
                if line.startswith(f"cmdstat_{name}:"):
                    counts[name] = int(line.split("calls=")[1].split(",")[0])
        return counts

    before = calls()
    with Conn(proxy.addr) as c:
        for _ in range(3):
            assert c.call_raw("READONLY") == CLUSTER_DISABLED
            assert c.call_raw("READWRITE") == CLUSTER_DISABLED
    assert calls() == before


@pytest.mark.respite_only
def test_client_subcommands_newer_than_the_table_check_their_arity(proxy):
    """CLIENT SETINFO and NO-TOUCH missing their value get Redis 7.2's arity error, and Respite
    goes on serving (it read past the arguments before)."""
    with Conn(proxy.addr) as c:
        assert c.call_raw("CLIENT", "SETINFO", "lib-name") == \
            b"-ERR wrong number of arguments for 'client|setinfo' command\r\n"
        assert c.call_raw("CLIENT", "NO-TOUCH") == \
            b"-ERR wrong number of arguments for 'client|no-touch' command\r\n"
        assert c.call_raw("CLIENT", "SETINFO", "lib-name", "x", "y") == \
            b"-ERR wrong number of arguments for 'client|setinfo' command\r\n"
        assert c.call_raw("CLIENT", "NO-TOUCH", "ON") == b"+OK\r\n"
        assert c.call_raw("CLIENT", "SETINFO", "LIB-NAME", "x") == b"+OK\r\n"
        assert c.call_raw("PING") == b"+PONG\r\n"
