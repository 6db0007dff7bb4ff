"""Client-side caching (CLIENT TRACKING) and MONITOR through Respite, compared with Redis itself."""

from harness import Conn


def _tracking_redirect_message(addr, key):
    """A RESP2 subscriber of __redis__:invalidate, a tracking client redirecting to it, a write:
    returns the message the subscriber receives."""
    with Conn(addr) as sub, Conn(addr) as tracker, Conn(addr) as writer:
        sub_id = sub.call("CLIENT", "ID")
        sub.send_cmd("SUBSCRIBE", "__redis__:invalidate")
        sub.read_raw()
        assert tracker.call("CLIENT", "TRACKING", "ON", "REDIRECT", str(sub_id)) == "OK"
        tracker.call("GET", key)
        assert writer.call("SET", key, "v") == "OK"
        return sub.read_raw(timeout=5)


def test_tracking_redirect_to_resp2_subscriber_matches_redis(proxy, redis, key):
    """RESP2 tracking with REDIRECT: the invalidation reaches the subscriber exactly as Redis sends it."""
    want = _tracking_redirect_message(redis.addr, key + "d")
    got = _tracking_redirect_message(proxy.addr, key + "d")
    assert got == want
    assert got.startswith(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n")


def test_tracking_redirect_to_unknown_client_is_refused(proxy, redis):
    """REDIRECT to a client id that does not exist gets Redis's error."""
    with Conn(proxy.addr) as c, Conn(redis.addr) as d:
        want = d.call_raw("CLIENT", "TRACKING", "ON", "REDIRECT", "987654")
        assert c.call_raw("CLIENT", "TRACKING", "ON", "REDIRECT", "987654") == want
        for args in (("ON", "REDIRECT", "abc"), ("ON", "PREFIX", "redirect", "BCAST"), ("ON", "REDIRECT")):
            assert c.call_raw("CLIENT", "TRACKING", *args) == d.call_raw("CLIENT", "TRACKING", *args), args
            c.call("CLIENT", "TRACKING", "OFF")
            d.call("CLIENT", "TRACKING", "OFF")


def test_resp3_tracking_pushes_invalidate(proxy, key):
    """A RESP3 client tracking a key it read gets an `invalidate` push when another client writes it."""
    with Conn(proxy.addr) as a, Conn(proxy.addr) as b:
        a.call("HELLO", "3")
        assert a.call("CLIENT", "TRACKING", "ON") == "OK"
        a.call("GET", key)
        assert b.call("SET", key, "x") == "OK"
        push = a.read_raw(timeout=5)
        assert push == b">2\r\n$10\r\ninvalidate\r\n*1\r\n$%d\r\n%s\r\n" % (len(key), key.encode())


def test_monitor_streams_commands_of_other_clients(proxy, key):
    """MONITOR through Respite answers +OK and then streams the commands other clients send."""
    with Conn(proxy.addr) as mon, Conn(proxy.addr) as other:
        assert mon.call("MONITOR") == "OK"
        marker = key + "-monitored"
        other.call("SET", marker, "1")
        seen = b""
        for _ in range(50):
            line = mon.read_raw(timeout=5)
            seen += line
            if marker.encode() in line:
                break
        assert marker.encode() in seen
        assert b'"set"' in seen.lower()
