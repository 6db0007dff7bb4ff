"""CLIENT TRACKING through Respite as on Redis: REDIRECT to any client id (its own included),
OPTIN/OPTOUT with CLIENT CACHING, BCAST/PREFIX, NOLOOP, tracking-redir-broken, GETREDIR and
TRACKINGINFO in Respite's client ids, and invalidations that never shift a reply stream.
Most tests run the same script against redis-server and against Respite and compare bytes."""

import pytest

from harness import Conn, hello3, wait_until


def _redirect_to_self_before_subscribe(addr, k):
    with Conn(addr) as c, Conn(addr) as w:
        me = c.call("CLIENT", "ID")
        assert c.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(me)) == "OK"
        c.call("GET", k)
        c.send_cmd("SUBSCRIBE", "__redis__:invalidate")
        c.read_raw()
        assert w.call("SET", k, "v") == "OK"
        return c.read_raw(timeout=5)


def test_redirect_to_own_id_before_subscribing(proxy, redis, key):
    """A RESP2 client redirecting to its own id, then subscribing, gets its invalidations as messages."""
    want = _redirect_to_self_before_subscribe(redis.addr, key + "k")
    got = _redirect_to_self_before_subscribe(proxy.addr, key + "k")
    assert got == want and b"__redis__:invalidate" in got


def _redirect_to_idle_resp3_client(addr, k):
    """B has never sent anything that pins a connection; A redirects to it."""
    with Conn(addr) as a, Conn(addr) as b, Conn(addr) as w:
        hello3(b)
        bid = b.call("CLIENT", "ID")
        assert a.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(bid)) == "OK"
        a.call("GET", k)
        assert w.call("SET", k, "v") == "OK"
        push = b.read_raw(timeout=5)
        # B's own traffic goes on as before.
        assert b.call("GET", k) == b"v"
        return push, a.call("CLIENT", "GETREDIR") == bid


def test_redirect_to_client_without_pinned_connection(proxy, redis, key):
    """REDIRECT to a client with no dedicated connection yet: it gets one, and the invalidation push."""
    want = _redirect_to_idle_resp3_client(redis.addr, key + "k")
    got = _redirect_to_idle_resp3_client(proxy.addr, key + "k")
    assert got == want
    assert got[0].startswith(b">2\r\n$10\r\ninvalidate\r\n") and got[1]


def _redirect_target_in_multi(addr, k):
    """A RESP2 B in MULTI is A's redirect target: B's replies must come in order, unshifted."""
    with Conn(addr) as a, Conn(addr) as b, Conn(addr) as w:
        bid = b.call("CLIENT", "ID")
        assert b.call("MULTI") == "OK"
        assert a.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(bid)) == "OK"
        a.call("GET", k)
        assert w.call("SET", k, "v") == "OK"
        # A's PING after the SET proves the invalidation was produced before B goes on.
        assert a.call("PING") == "PONG"
        stream = [b.call_raw("SET", k + "2", "x"), b.call_raw("EXEC"), b.call_raw("PING")]
        return stream


def test_redirect_target_in_multi_gets_no_injected_message(proxy, redis, key):
    """Redis sends a RESP2 client outside pub/sub no invalidation; Respite must not shift its replies."""
    want = _redirect_target_in_multi(redis.addr, key + "k")
    got = _redirect_target_in_multi(proxy.addr, key + "k")
    assert got == want == [b"+QUEUED\r\n", b"*1\r\n+OK\r\n", b"+PONG\r\n"]


def _optin_caching(addr, k):
    with Conn(addr) as a, Conn(addr) as w:
        hello3(a)
        assert a.call("CLIENT", "TRACKING", "ON", "OPTIN") == "OK"
        assert a.call("CLIENT", "CACHING", "yes") == "OK"
        a.call("GET", k + "1")
        a.call("GET", k + "2")
        w.call("SET", k + "2", "x")
        w.call("SET", k + "1", "x")
        first = a.read_raw(timeout=5)
        info = a.call_raw("CLIENT", "TRACKINGINFO")
        bad = a.call_raw("CLIENT", "CACHING", "no")
        return first, info, bad


def test_optin_with_client_caching(proxy, redis, key):
    """OPTIN: only the read right after CLIENT CACHING yes is tracked."""
    want = _optin_caching(redis.addr, key + "k")
    got = _optin_caching(proxy.addr, key + "k")
    assert got == want
    assert (key + "k1").encode() in got[0]


def _optout_caching(addr, k):
    with Conn(addr) as a, Conn(addr) as w:
        hello3(a)
        assert a.call("CLIENT", "TRACKING", "ON", "OPTOUT") == "OK"
        assert a.call("CLIENT", "CACHING", "no") == "OK"
        a.call("GET", k + "1")
        a.call("GET", k + "2")
        w.call("SET", k + "1", "x")
        w.call("SET", k + "2", "x")
        return a.read_raw(timeout=5)


def test_optout_with_client_caching(proxy, redis, key):
    """OPTOUT: the read right after CLIENT CACHING no is not tracked."""
    assert _optout_caching(proxy.addr, key + "k") == _optout_caching(redis.addr, key + "k")


def _bcast_noloop(addr, k):
    with Conn(addr) as a, Conn(addr) as w:
        hello3(a)
        assert a.call("CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", k, "NOLOOP") == "OK"
        a.call("SET", k + "mine", "1")      # NOLOOP: no invalidation for A's own write
        w.call("SET", k + "theirs", "1")
        w.call("SET", "elsewhere:" + k, "1")  # outside the prefix
        push = a.read_raw(timeout=5)
        info = a.call("CLIENT", "TRACKINGINFO")
        return push, info


def test_bcast_prefix_noloop(proxy, redis, key):
    """BCAST with PREFIX and NOLOOP: only other clients' writes under the prefix are pushed."""
    want = _bcast_noloop(redis.addr, key)
    got = _bcast_noloop(proxy.addr, key)
    assert got == want
    assert (key + "theirs").encode() in got[0]


def _trackinginfo_off(addr, proto):
    with Conn(addr) as a:
        if proto == 3:
            hello3(a)
        return [a.call_raw("CLIENT", "TRACKINGINFO"), a.call_raw("CLIENT", "GETREDIR"),
                a.call_raw("CLIENT", "CACHING", "yes"), a.call_raw("CLIENT", "TRACKING", "OFF")]


@pytest.mark.parametrize("proto", [2, 3])
def test_tracking_state_when_off_matches_redis(proxy, redis, proto):
    """TRACKINGINFO, GETREDIR, CACHING and TRACKING OFF on a client that never tracked."""
    assert _trackinginfo_off(proxy.addr, proto) == _trackinginfo_off(redis.addr, proto)


def test_getredir_and_trackinginfo_speak_respite_ids(proxy):
    """GETREDIR: -1 off, 0 without redirect, the target's Respite id with one; so TRACKINGINFO's redirect."""
    with Conn(proxy.addr) as a, Conn(proxy.addr) as b:
        bid = b.call("CLIENT", "ID")
        assert a.call("CLIENT", "GETREDIR") == -1
        assert a.call("CLIENT", "TRACKING", "ON") == "OK"
        assert a.call("CLIENT", "GETREDIR") == 0
        assert a.call("CLIENT", "TRACKING", "OFF") == "OK"
        assert a.call("CLIENT", "GETREDIR") == -1
        assert a.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(bid), "OPTIN") == "OK"
        assert a.call("CLIENT", "GETREDIR") == bid
        info = a.call("CLIENT", "TRACKINGINFO")
        assert info == [b"flags", [b"on", b"optin"], b"redirect", bid, b"prefixes", []]
        line = a.call("CLIENT", "INFO").decode()
        assert f"redir={bid} " in line and "flags=t" in line


def _redir_broken(addr, k):
    with Conn(addr) as a, Conn(addr) as w:
        hello3(a)
        b = Conn(addr)
        bid = b.call("CLIENT", "ID")
        assert a.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(bid)) == "OK"
        a.call("GET", k)
        b.close()
        wait_until(lambda: f"id={bid} " not in w.call("CLIENT", "LIST").decode(), 5, "the target to go away")
        w.call("SET", k, "x")
        push = a.read(timeout=5)
        flags = a.call("CLIENT", "TRACKINGINFO").get(b"flags")
        return push, bid, flags


def test_tracking_redir_broken_names_the_respite_id(proxy, redis, key):
    """When the redirect target goes away, the RESP3 tracker gets tracking-redir-broken with that id."""
    want_push, want_id, want_flags = _redir_broken(redis.addr, key + "k")
    got_push, got_id, got_flags = _redir_broken(proxy.addr, key + "k")
    assert want_push == [b"tracking-redir-broken", want_id]
    assert got_push == [b"tracking-redir-broken", got_id]
    assert got_flags == want_flags


@pytest.mark.respite_only
def test_redirect_target_connection_is_not_reused(proxy, key):
    """A redirect target's connection stays with it after its MULTI ends: another client that
    leases a dedicated connection later never receives those invalidations."""
    with Conn(proxy.addr) as a, Conn(proxy.addr) as b, Conn(proxy.addr) as c, Conn(proxy.addr) as w:
        hello3(b)
        hello3(c)
        bid = b.call("CLIENT", "ID")
        assert b.call("MULTI") == "OK"
        assert a.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(bid)) == "OK"
        a.call("GET", key)
        assert b.call("EXEC") == []
        assert c.call("MULTI") == "OK"
        w.call("SET", key, "x")
        push = b.read_raw(timeout=5)
        assert push.startswith(b">2\r\n$10\r\ninvalidate\r\n")
        assert c.call_raw("EXEC") == b"*0\r\n"


def _tracking_in_multi(addr, k):
    with Conn(addr) as a, Conn(addr) as b, Conn(addr) as w:
        hello3(b)
        bid = b.call("CLIENT", "ID")
        assert a.call("MULTI") == "OK"
        assert a.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(bid)) == "QUEUED"
        assert a.call("GET", k) == "QUEUED"
        result = a.call_raw("EXEC")
        w.call("SET", k, "v")
        push = b.read_raw(timeout=5)
        return result, push, a.call("CLIENT", "GETREDIR") == bid


def test_tracking_queued_in_multi(proxy, redis, key):
    """CLIENT TRACKING ON REDIRECT inside MULTI: the id is translated and tracking outlives EXEC."""
    want = _tracking_in_multi(redis.addr, key + "direct")
    got = _tracking_in_multi(proxy.addr, key + "proxyd")
    assert got[0] == want[0] == b"*2\r\n+OK\r\n$-1\r\n"
    assert got[1].replace(b"proxyd", b"direct") == want[1]
    assert got[2] and want[2]


def _redirect_target_resets(addr, k):
    with Conn(addr) as a, Conn(addr) as b, Conn(addr) as w:
        bid = b.call("CLIENT", "ID")
        assert a.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(bid)) == "OK"
        assert b.call("SELECT", "1") == "OK"
        assert b.call("RESET") == "RESET"
        assert b.call("CLIENT", "ID") == bid
        hello3(b)
        a.call("GET", k)
        w.call("SET", k, "v")
        push = b.read_raw(timeout=5)
        return push, b.call("GET", k), a.call("CLIENT", "GETREDIR") == bid


def test_redirect_target_keeps_receiving_after_reset(proxy, redis, key):
    """RESET keeps a client's id on Redis, so redirects to it go on working; so through Respite."""
    want = _redirect_target_resets(redis.addr, key + "direct")
    got = _redirect_target_resets(proxy.addr, key + "proxyd")
    assert got[0].replace(b"proxyd", b"direct") == want[0]
    assert got[1:] == want[1:] == (b"v", True)


def _caching_then_local_command(addr, k):
    with Conn(addr) as a, Conn(addr) as w:
        hello3(a)
        assert a.call("CLIENT", "TRACKING", "ON", "OPTIN") == "OK"
        # A CLIENT command between CACHING and the read keeps the flag (Redis's rule).
        assert a.call("CLIENT", "CACHING", "yes") == "OK"
        a.call("CLIENT", "ID")
        a.call("GET", k + "1")
        # Any other command consumes it, even one Respite answers itself.
        assert a.call("CLIENT", "CACHING", "yes") == "OK"
        a.call("ACL", "WHOAMI")
        a.call("GET", k + "2")
        assert a.call("CLIENT", "CACHING", "yes") == "OK"
        a.call("GET", k + "3")
        for n in "123":
            w.call("SET", k + n, "x")
        return [a.read_raw(timeout=5), a.read_raw(timeout=5)]


def test_caching_flag_consumed_as_on_redis(proxy, redis, key):
    """CLIENT CACHING applies to the next command, whichever route it takes through Respite."""
    want = _caching_then_local_command(redis.addr, key + "direct")
    got = _caching_then_local_command(proxy.addr, key + "proxyd")
    assert [g.replace(b"proxyd", b"direct") for g in got] == want
    assert (key + "direct1").encode() in want[0] and (key + "direct3").encode() in want[1]


def _resp2_tracking_without_redirect_then_subscribed(addr, k):
    with Conn(addr) as a, Conn(addr) as w:
        assert a.call("CLIENT", "TRACKING", "ON") == "OK"
        a.call("GET", k)
        a.send_cmd("SUBSCRIBE", k + "chan")
        a.read_raw()
        w.call("SET", k, "x")
        w.call("PUBLISH", k + "chan", "hello")
        return a.read_raw(timeout=5)


def test_resp2_tracking_without_redirect_gets_no_message(proxy, redis, key):
    """A RESP2 client tracking without REDIRECT gets no invalidation, even in pub/sub mode."""
    want = _resp2_tracking_without_redirect_then_subscribed(redis.addr, key + "direct")
    got = _resp2_tracking_without_redirect_then_subscribed(proxy.addr, key + "proxyd")
    assert got.replace(b"proxyd", b"direct") == want
    assert b"hello" in want
