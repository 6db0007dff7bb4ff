"""CLIENT LIST, CLIENT KILL and CLIENT UNBLOCK act on Respite's own clients, with Redis's reply
shapes and error texts."""

import pytest

from harness import Conn

pytestmark = pytest.mark.respite_only


def test_client_list_shows_respites_clients(proxy):
    """CLIENT LIST has one Redis-format line per client connected to Respite, filterable by ID."""
    with Conn(proxy.addr) as a, Conn(proxy.addr) as b:
        a.call("CLIENT", "SETNAME", "lister-a")
        aid = a.call("CLIENT", "ID")
        text = b.call("CLIENT", "LIST")
        assert f"id={aid} " in text.decode() and "name=lister-a" in text.decode()
        only = b.call("CLIENT", "LIST", "ID", str(aid)).decode().strip().splitlines()
        assert len(only) == 1 and only[0].startswith(f"id={aid} ")
        assert "cmd=client|id" in only[0]
        assert b.call_raw("CLIENT", "LIST", "TYPE", "bogus") == b"-ERR Unknown client type 'bogus'\r\n"


def test_client_kill_by_id_and_address(proxy):
    """CLIENT KILL ID closes that client and counts it; the old address form answers +OK or Redis's error."""
    with Conn(proxy.addr) as victim, Conn(proxy.addr) as killer:
        vid = victim.call("CLIENT", "ID")
        assert killer.call("CLIENT", "KILL", "ID", str(vid)) == 1
        assert victim.wait_closed(5) == b""
        assert killer.call_raw("CLIENT", "KILL", "ID", "0") == b"-ERR client-id should be greater than 0\r\n"
        assert killer.call_raw("CLIENT", "KILL", "9.9.9.9:1") == b"-ERR No such client\r\n"
    with Conn(proxy.addr) as victim, Conn(proxy.addr) as killer:
        addr = [l for l in victim.call("CLIENT", "INFO").decode().split() if l.startswith("addr=")][0][5:]
        assert killer.call("CLIENT", "KILL", addr) == "OK"
        assert victim.wait_closed(5) == b""


def test_client_unblock_releases_a_blocked_client(proxy, key):
    """CLIENT UNBLOCK <respite id> releases a BLPOP waiting on its own upstream connection."""
    with Conn(proxy.addr) as blocked, Conn(proxy.addr) as other:
        bid = blocked.call("CLIENT", "ID")
        blocked.send_cmd("BLPOP", key + "q", "10")
        from harness import wait_until
        wait_until(lambda: other.call("CLIENT", "UNBLOCK", str(bid)) == 1, 5.0, "the client to be blocked and released")
        assert blocked.read_raw(timeout=5) == b"*-1\r\n"
        assert other.call("CLIENT", "UNBLOCK", str(bid)) == 0


def test_client_unblock_while_the_blocked_clients_connection_is_being_set_up(procs, key):
    """CLIENT UNBLOCK that arrives after a client's BLPOP but before Respite's upstream
    connection for it is set up still answers 1 and releases it, once the command reaches the
    server. The server is paused so the new connection's handshake waits: without the deferral
    the unblock answered 0 and the client stayed blocked for good."""
    from harness import wait_until
    redis = procs.redis()
    proxy = procs.respite(redis.port)
    with Conn(redis.addr) as admin, Conn(proxy.addr) as blocked, Conn(proxy.addr) as other:
        bid = blocked.call("CLIENT", "ID")
        # Every client of the server waits (this one too) until the pause ends by itself.
        assert admin.call("CLIENT", "PAUSE", "1500", "ALL") == "OK"
        blocked.send_cmd("BLPOP", key, "0")
        wait_until(lambda: "flags=b" in other.call("CLIENT", "LIST", "ID", str(bid)).decode(), 1.0,
                   "Respite to take the BLPOP")
        assert other.call("CLIENT", "UNBLOCK", str(bid)) == 1
        assert other.call("CLIENT", "UNBLOCK", str(bid)) == 0
        assert blocked.read_raw(timeout=5) == b"*-1\r\n"
        assert blocked.call("PING") == "PONG"
