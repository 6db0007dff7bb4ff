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
