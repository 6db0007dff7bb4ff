"""Identity pass-through (`client-auth passthrough`, the default without requirepass): a
client's AUTH / HELLO AUTH is checked by the upstream, Redis's exact replies come back, and the
client's commands run as its ACL user, so Redis's ACLs (NOPERM) apply as they would direct.
Clients that never log in use Respite's own upstream identity."""

import time

import pytest
import redis as redispy

from harness import DIRECT, Conn, Error, RespMap, wait_until

pytestmark = pytest.mark.respite_only

SECRET = "secret"


def setup_app_user(ep):
    with Conn(ep.addr) as c:
        assert c.call("AUTH", SECRET) == "OK"
        assert c.call("ACL", "SETUSER", "app", "reset", "on", ">pw", "~app:*", "+@all") == "OK"


@pytest.fixture
def secured(procs):
    """(respite with its own upstream credentials, redis-server with requirepass and user app)."""
    r = procs.redis(password=SECRET)
    setup_app_user(r)
    p = procs.respite(r.port, args=("--upstream-password", SECRET))
    return p, r


@pytest.fixture
def anonymous(procs):
    """(respite with no upstream credentials, redis-server with requirepass and user app)."""
    r = procs.redis(password=SECRET)
    setup_app_user(r)
    p = procs.respite(r.port, wait="connect")
    return p, r


def run(ep, commands):
    with Conn(ep.addr) as c:
        return [c.call_raw(*x) for x in commands]


def test_acl_user_logs_in_and_its_acls_apply(secured):
    proxy, r = secured
    commands = [("AUTH", "app", "pw"), ("SET", "app:1", "x"), ("SET", "other", "y"), ("GET", "app:1"),
                ("ACL", "WHOAMI"), ("AUTH", "app", "wrong"), ("ACL", "WHOAMI"), ("AUTH", "nosuch", "pw")]
    got = run(proxy, commands)
    want = run(r, commands)
    assert got == want, list(zip(commands, want, got))
    assert got[0] == b"+OK\r\n"
    assert got[2].startswith(b"-NOPERM")
    assert got[4] == b"$3\r\napp\r\n"
    assert got[5] == b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"


def test_client_that_never_logs_in_uses_respites_identity(secured):
    proxy, _ = secured
    with Conn(proxy.addr) as app, Conn(proxy.addr) as other:
        assert app.call("AUTH", "app", "pw") == "OK"
        assert other.call("SET", "other", "y") == "OK"          # as Respite's identity (default)
        assert isinstance(app.call("SET", "other", "z"), Error)  # NOPERM for app
        assert other.call("GET", "other") == b"y"
        assert other.call("ACL", "WHOAMI") == b"default"
        listing = other.call_raw("CLIENT", "LIST").decode()
        assert any("user=app " in l for l in listing.splitlines()), listing
        assert "user=app " in app.call_raw("CLIENT", "INFO").decode()


def test_hello_auth_relays_login_and_answers_map(secured):
    proxy, r = secured
    with Conn(proxy.addr) as c:
        bad = c.call_raw("HELLO", "3", "AUTH", "app", "nope")
        ok = c.call("HELLO", "3", "AUTH", "app", "pw", "SETNAME", "n1")
        assert isinstance(ok, RespMap) and ok.get(b"proto") == 3
        assert c.call("ACL", "WHOAMI") == b"app"
        assert c.call("CLIENT", "GETNAME") == b"n1"
    with Conn(r.addr) as c:
        assert bad == c.call_raw("HELLO", "3", "AUTH", "app", "nope")


def test_auth_without_password_configured_relays_redis_text(procs):
    r = procs.redis()
    p = procs.respite(r.port)
    commands = [("AUTH", "x"), ("AUTH", "default", "anything"), ("AUTH", "nosuch", "x"), ("PING",)]
    assert run(p, commands) == run(r, commands)


def test_noauth_before_login_when_respite_has_no_credentials(anonymous):
    proxy, r = anonymous
    commands = [("GET", "k"), ("SET", "k", "v"), ("AUTH", "wrong"), ("AUTH", SECRET), ("SET", "k", "v"),
                ("RESET",), ("GET", "k"), ("AUTH", "app", "pw"), ("SET", "app:k", "1"), ("RESET",), ("GET", "k")]
    got = run(proxy, commands)
    want = run(r, commands)
    assert got == want, list(zip(commands, want, got))
    assert got[0] == b"-NOAUTH Authentication required.\r\n"


def test_redis_py_logs_in_as_acl_user(secured):
    proxy, _ = secured
    for protocol in (2, 3):
        c = redispy.Redis(host=proxy.host, port=proxy.port, username="app", password="pw", protocol=protocol)
        try:
            assert c.set("app:py", "1")
            with pytest.raises(redispy.exceptions.NoPermissionError):
                c.set("nope", "1")
            assert c.acl_whoami() in (b"app", "app")
        finally:
            c.close()
        bad = redispy.Redis(host=proxy.host, port=proxy.port, username="app", password="bad", protocol=protocol)
        with pytest.raises(redispy.exceptions.AuthenticationError):
            bad.ping()
        bad.close()


def test_password_change_and_requirepass_change_break_nothing_else(secured):
    proxy, r = secured
    with Conn(proxy.addr) as app, Conn(proxy.addr) as admin:
        assert app.call("AUTH", "app", "pw") == "OK"
        assert app.call("SET", "app:1", "a") == "OK"
        assert admin.call("ACL", "SETUSER", "app", "resetpass", ">pw2") == "OK"
        assert admin.call("CONFIG", "SET", "requirepass", "foobar") == "OK"
        # Existing logins stay authenticated, as on Redis.
        assert app.call("GET", "app:1") == b"a"
        assert admin.call("PING") == "PONG"
        with Conn(proxy.addr) as fresh:
            assert fresh.call_raw("AUTH", "app", "pw").startswith(b"-WRONGPASS")
            assert fresh.call("AUTH", "app", "pw2") == "OK"
            assert fresh.call("GET", "app:1") == b"a"
            assert fresh.call("AUTH", "foobar") == "OK"
            assert fresh.call("ACL", "WHOAMI") == b"default"
        assert admin.call("CONFIG", "SET", "requirepass", SECRET) == "OK"


def test_acl_deluser_ends_that_users_clients_only(secured):
    proxy, r = secured
    with Conn(proxy.addr) as app, Conn(proxy.addr) as other, Conn(proxy.addr) as admin:
        assert app.call("AUTH", "app", "pw") == "OK"
        assert app.call("SET", "app:1", "a") == "OK"
        assert other.call("SET", "k", "v") == "OK"
        assert admin.call("ACL", "DELUSER", "app") == 1
        # Direct, Redis closes app's connection; through Respite app's session ends too.
        app.send_cmd("GET", "app:1")
        app.wait_closed(5.0)
        assert other.call("GET", "k") == b"v"
        assert admin.call("PING") == "PONG"
    assert "pw" not in [w for line in proxy.process.log().splitlines() for w in line.split()]


def test_client_kill_user(secured):
    proxy, _ = secured
    with Conn(proxy.addr) as app, Conn(proxy.addr) as admin:
        assert app.call("AUTH", "app", "pw") == "OK"
        assert admin.call("CLIENT", "KILL", "USER", "app") == 1
        app.wait_closed(5.0)
        assert admin.call("PING") == "PONG"


def test_client_auth_local_keeps_requirepass_mode(procs):
    r = procs.redis()
    p = procs.respite(r.port, args=("--client-auth", "local"), password="pp")
    with Conn(p.addr) as c:
        assert c.call_raw("GET", "k") == b"-NOAUTH Authentication required.\r\n"
        assert c.call("AUTH", "pp") == "OK"
        assert c.call("ACL", "WHOAMI") == b"default"


def test_hello_before_login_is_refused_when_upstream_needs_a_password(anonymous):
    proxy, r = anonymous
    commands = [("HELLO", "3"), ("HELLO", "3", "AUTH", "app", "pw"), ("ACL", "WHOAMI")]
    got = run(proxy, commands)
    want = run(r, commands)
    assert got[0] == want[0] and got[0].startswith(b"-NOAUTH HELLO must be called")
    assert got[2] == want[2] == b"$3\r\napp\r\n"


def test_pinned_commands_run_as_the_logged_in_user(secured):
    """Blocking commands and transactions lease connections of the client's identity; a login
    while WATCH holds a pinned connection happens on it, and the transaction runs as that user."""
    proxy, r = secured
    with Conn(proxy.addr) as c:
        assert c.call("AUTH", "app", "pw") == "OK"
        assert c.call_raw("BLPOP", "other", "0.1").startswith(b"-NOPERM")
        assert c.call("BLPOP", "app:list", "0.1") is None
        assert c.call("WATCH", "app:w") == "OK"
        assert c.call("AUTH", "default", SECRET) == "OK"
        assert c.call("MULTI") == "OK"
        assert c.call("SET", "other:w", "1") == "QUEUED"
        assert c.call("EXEC") == ["OK"]
        assert c.call("ACL", "WHOAMI") == b"default"
        assert c.call("AUTH", "app", "pw") == "OK"
        assert c.call("MULTI") == "OK"
        assert c.call_raw("SET", "other:w", "2").startswith(b"-NOPERM")
        assert c.call_raw("EXEC").startswith(b"-EXECABORT")


def test_unauthenticated_limits_apply_when_upstream_needs_a_login(anonymous):
    proxy, r = anonymous
    big = ("ECHO",) + ("x",) * 20
    for ep in (proxy, r):
        with Conn(ep.addr) as c:
            c.send_cmd(*big)
            assert c.read_raw().startswith(b"-ERR Protocol error: unauthenticated multibulk length")


def test_login_reaches_redis_as_the_client_wrote_it(secured):
    """MONITOR (and so the ACL log) sees the client's own HELLO … AUTH and AUTH, redacted by
    Redis as direct, and a failed login's reply is Redis's own."""
    p, r = secured
    with Conn(r.addr) as mon:
        assert mon.call("AUTH", SECRET) == "OK"
        mon.send_cmd("MONITOR")
        assert mon.read() == "OK"
        with Conn(p.addr) as c:
            c.send_cmd("hello", "2", "AUTH", "app", "wrong")
            assert c.read_raw() == b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
            c.send_cmd("auth", "app", "pw")
            assert c.read_raw() == b"+OK\r\n"
        lines = [mon.read() for _ in range(2)]
    assert '"hello" "2" "AUTH" "(redacted)" "(redacted)"' in lines[0], lines
    assert '"auth" "(redacted)" "(redacted)"' in lines[1], lines


def test_user_without_select_permission_works_in_its_selected_db(secured):
    """A user allowed only SET (no SELECT, no CLIENT) logs in after SELECT 9, as Redis's own
    suite does, and its commands run in db 9: Respite's connection setup runs as Respite."""
    p, r = secured
    with Conn(r.addr) as admin:
        assert admin.call("AUTH", SECRET) == "OK"
        assert admin.call("ACL", "SETUSER", "bob", "on", ">123", "+@scripting", "+set", "~x*") == "OK"
    with Conn(p.addr) as c:
        assert c.call_raw("SELECT", "9") == b"+OK\r\n"
        assert c.call_raw("AUTH", "bob", "123") == b"+OK\r\n"
        assert c.call_raw("SET", "xbob", "v") == b"+OK\r\n"
        assert c.call_raw("EVAL", "return redis.acl_check_cmd('set','xx',1)", "1", "xx") == b":1\r\n"
    with Conn(r.addr) as admin:
        assert admin.call("AUTH", SECRET) == "OK"
        assert admin.call_raw("SELECT", "9") == b"+OK\r\n"
        assert admin.call_raw("GET", "xbob") == b"$1\r\nv\r\n"


@pytest.mark.parametrize("proto", [2, 3])
def test_refused_subscription_gets_redis_error_and_the_connection_goes_on(secured, proto):
    """A SUBSCRIBE an ACL refuses (`resetchannels`) is answered with Redis's -NOPERM and nothing
    else changes: the client stays connected, a permitted SUBSCRIBE works, and a pipelined PING
    runs in whatever context the SUBSCRIBE ahead of it left (as direct)."""
    proxy, r = secured
    with Conn(r.addr) as c:
        assert c.call("AUTH", SECRET) == "OK"
        assert c.call("ACL", "SETUSER", "subs", "reset", "on", ">pw", "~*", "+@all", "resetchannels", "&ok:*") == "OK"
    stream = (b"SUBSCRIBE nope\r\nPING\r\nSUBSCRIBE ok:1 nope\r\n"
              b"PSUBSCRIBE ok:*\r\nSUBSCRIBE ok:1\r\nPING\r\nUNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nPING\r\n")

    def session(ep):
        with Conn(ep.addr) as c:
            login = c.call_raw("HELLO", "3", "AUTH", "subs", "pw") if proto == 3 else c.call_raw("AUTH", "subs", "pw")
            assert not login.startswith(b"-"), login
            c.send(stream)
            return [c.read_raw() for _ in range(9)]

    want, got = session(r), session(proxy)
    assert got == want, "\n".join(f"redis {w!r}\nrespite {g!r}" for w, g in zip(want, got) if w != g)
    assert got[0].startswith(b"-NOPERM")
