"""Replies that carry the upstream's secrets (CONFIG GET requirepass/masterauth/…, ACL LIST and
ACL GETUSER password hashes) never reach a client running with Respite's own upstream identity
(`client-auth local`, or a client that has not logged in under pass-through): a non-empty secret
shows as `(redacted)`, also inside EXEC. A client logged in as its own ACL user sees exactly
what Redis shows that user."""

import hashlib

import pytest

from harness import Conn, hello3

pytestmark = pytest.mark.respite_only

SECRET = "upstream-secret"
MASTERAUTH = "replication-secret"
HASH = hashlib.sha256(SECRET.encode()).hexdigest().encode()


@pytest.fixture
def secured_redis(procs):
    r = procs.redis(password=SECRET, args=("--masterauth", MASTERAUTH))
    with Conn(r.addr) as c:
        assert c.call("AUTH", SECRET) == "OK"
        assert c.call("ACL", "SETUSER", "app", "reset", "on", ">pw", "~*", "&*", "+@all") == "OK"
    return r


def _leaks(raw: bytes) -> bool:
    return SECRET.encode() in raw or MASTERAUTH.encode() in raw or HASH in raw


def _secret_replies(c):
    return {
        "requirepass": c.call_raw("CONFIG", "GET", "requirepass"),
        "all": c.call_raw("CONFIG", "GET", "*"),
        "empty": c.call_raw("CONFIG", "GET", "tls-key-file-pass"),
        "acl list": c.call_raw("ACL", "LIST"),
        "getuser": c.call_raw("ACL", "GETUSER", "default"),
    }


@pytest.mark.parametrize("proto", [2, 3])
@pytest.mark.parametrize("mode", ["local", "passthrough-anonymous"])
def test_own_identity_never_shows_upstream_secrets(procs, secured_redis, mode, proto):
    if mode == "local":
        p = procs.respite(secured_redis.port, args=("--client-auth", "local", "--upstream-password", SECRET),
                          password="apppw")
    else:
        p = procs.respite(secured_redis.port, args=("--upstream-password", SECRET))
    with Conn(p.addr) as c:
        if mode == "local":
            assert c.call("AUTH", "apppw") == "OK"
        if proto == 3:
            hello3(c)
        got = _secret_replies(c)
        for what, raw in got.items():
            assert not _leaks(raw), (what, raw)
        assert b"(redacted)" in got["requirepass"] and b"requirepass" in got["requirepass"]
        assert got["all"].count(b"(redacted)") == 2, "requirepass and masterauth"
        assert b"$0\r\n\r\n" in got["empty"], "an empty secret stays empty"
        assert b"#(redacted)" in got["acl list"]
        # Inside a transaction too.
        assert c.call("MULTI") == "OK"
        assert c.call("CONFIG", "GET", "masterauth") == "QUEUED"
        assert c.call("PING") == "QUEUED"
        assert c.call("ACL", "LIST") == "QUEUED"
        raw = c.call_raw("EXEC")
        assert not _leaks(raw), raw
        assert b"masterauth\r\n$10\r\n(redacted)\r\n+PONG\r\n" in raw and b"#(redacted)" in raw, raw
        assert c.call("PING") == "PONG"


def test_passthrough_login_sees_what_redis_shows_its_user(procs, secured_redis):
    """Logged in as its own ACL user, a client gets Redis's replies byte for byte."""
    p = procs.respite(secured_redis.port, args=("--upstream-password", SECRET))
    for proto in (2, 3):
        replies = []
        for ep in (secured_redis, p):
            with Conn(ep.addr) as c:
                assert c.call("AUTH", "app", "pw") == "OK"
                if proto == 3:
                    hello3(c)
                r = _secret_replies(c)
                assert c.call("MULTI") == "OK"
                c.call("CONFIG", "GET", "requirepass")
                r["exec"] = c.call_raw("EXEC")
                replies.append(r)
        direct, proxied = replies
        assert proxied == direct
        assert SECRET.encode() in direct["requirepass"]
