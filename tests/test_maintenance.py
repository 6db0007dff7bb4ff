"""Maintenance scenarios end to end: respite-maintsim fronting real redis-server processes,
Respite in front of it, and maintenance-unaware clients (RESP2 and RESP3, pipelined and not, one
in MULTI/EXEC, one blocked in BLPOP, one subscriber) doing SETs of unique keys and INCRs while
each action runs. With maintenance handling on, the clients see no error, every acknowledged
write is on the final backend, no INCR is counted twice, and no pub/sub message or popped item
is lost. With it off, the same scenario shows errors: each scenario can fail."""

import json
import os
import threading

import pytest

from harness import Conn, Procs, cmd, wait_until
from maint_harness import MAINTSIM_BIN, Load, Simulator, backend_check

pytestmark = pytest.mark.skipif(not os.path.exists(MAINTSIM_BIN), reason=f"{MAINTSIM_BIN} not built")

SCENARIOS = {
    "bind-new-address": ("bind", {"time": 3}),
    "bind-new-port": ("bind", {"time": 3, "new_port": True}),
    "bind-null-endpoint": ("bind", {"time": 3, "endpoint_type": "none"}),
    "bind-fqdn": ("bind", {"time": 3, "endpoint_type": "external-fqdn"}),
    "migrate-slow": ("migrate", {"time": 2, "latency_ms": 400, "duration_ms": 1500}),
    "failover-slow": ("failover", {"time": 2, "latency_ms": 400}),
}
# A normal upstream timeout below the scenarios' added latency, so slow replies are a danger.
RESPITE_ARGS = ("--upstream-timeout", "250ms", "--maint-relaxed-timeout", "5s")
# Reply latency that outlasts upstream-timeout and a liveness probe (see the disabled runs).
STALLED_MS = 1200


def run_scenario(tmp_tag, action, params, maintenance, extra_args=()):
    procs = Procs(tmp_tag)
    try:
        sim = Simulator(procs)
        args = RESPITE_ARGS + ("--maint-notifications", maintenance) + tuple(extra_args)
        proxy = procs.respite(sim.port, args=args)
        load = Load(proxy.addr, prefix=tmp_tag)
        load.start()
        record = sim.action(action, **params) if action else None
        # Every client runs on (on the new backend) after the action.
        load.wait_progress()
        outcomes = load.finish()
        check = backend_check(sim, load)
        log = procs.logs()
        return load, outcomes, check, record, log
    finally:
        procs.stop_all()


def summary(outcomes, check):
    lines = []
    for o in outcomes:
        lines.append(f"  {o.name:16} replies={o.replies:6} errors={len(o.errors)} unknown={len(o.unknown)} "
                     f"max_stall={o.max_gap * 1000:.0f}ms {o.errors[:2]}")
    lines.append(f"  missing acknowledged keys: {len(check['missing'])}")
    return "\n".join(lines)


def assert_clean(load, outcomes, check, log):
    report = summary(outcomes, check)
    print(report)
    errors = [e for o in outcomes for e in o.errors + o.unknown]
    assert not errors, f"clients saw errors:\n{report}\n{log[-3000:]}"
    assert not check["missing"], f"acknowledged writes missing on the final backend:\n{report}"
    for o in outcomes:
        if o.name in check["counters"]:
            assert check["counters"][o.name] == o.acked_incr, \
                f"{o.name}: counter {check['counters'][o.name]} != acknowledged INCRs {o.acked_incr} (lost or duplicated)"
    popped = load.outcome("blpop").extra.get("popped", [])
    assert len(popped) == len(set(popped)), "an item was popped twice"
    assert sorted(popped + check["queue_left"]) == sorted(load.produced), "a produced item was lost"
    got = load.outcome("subscriber").extra.get("received", [])
    received = set(got)
    lost = [i for i in load.published if i not in received]
    assert not lost, f"published messages never received: {lost[:10]}"
    out_of_order = [(a, b) for a, b in zip(got, got[1:]) if b <= a]
    assert not out_of_order, f"messages repeated or out of order (previous, next): {out_of_order[:10]}"
    stall = max(o.max_gap for o in outcomes)
    print(f"max stall {stall * 1000:.0f} ms")


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_is_invisible_with_maintenance_handling(name):
    """The action runs under load; the clients see nothing but a short stall."""
    action, params = SCENARIOS[name]
    load, outcomes, check, record, log = run_scenario(f"m-{name}", action, params, "enabled")
    assert_clean(load, outcomes, check, log)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_shows_errors_without_maintenance_handling(name):
    """The same scenario with maintenance disabled: clients see errors (the danger is real)."""
    action, params = SCENARIOS[name]
    if "latency_ms" in params:
        # A slow server is not a dead one: replies merely later than upstream-timeout are waited
        # out once a liveness probe is answered, maintenance handling or not. Without it the
        # danger is a stall the probe cannot tell from a dead server: no answer for longer than
        # upstream-timeout plus the probe's own timeout.
        params = dict(params, latency_ms=STALLED_MS)
    load, outcomes, check, record, log = run_scenario(f"d-{name}", action, params, "disabled")
    report = summary(outcomes, check)
    print(report)
    seen = sum(len(o.errors) + len(o.unknown) for o in outcomes)
    assert seen > 0, f"no client saw an error with maintenance disabled:\n{report}"


def test_raw_unknown_and_malformed_pushes_are_ignored():
    """Unknown push types and malformed maintenance pushes reach Respite's upstream connections
    between replies; no client notices."""
    frames = (b">2\r\n+FUTURE_EVENT\r\n:1\r\n"
              b">2\r\n$6\r\nMOVING\r\n:9\r\n"                 # MOVING without its time
              b">1\r\n:5\r\n"                                  # a non-string type
              b">0\r\n"                                         # an empty push
              b">3\r\n$8\r\nMIGRATED\r\n$3\r\nabc\r\n$1\r\n1\r\n"   # a completion without a start
              b">4\r\n$6\r\nMOVING\r\n:10\r\n:2\r\n$4\r\nnull\r\n")  # null spelled as a string
    procs = Procs("m-raw")
    try:
        sim = Simulator(procs)
        proxy = procs.respite(sim.port, args=RESPITE_ARGS + ("--maint-notifications", "enabled"))
        load = Load(proxy.addr, prefix="m-raw")
        load.start()
        sim.action("raw", query="encoding=raw", body=frames)
        load.wait_progress()
        outcomes = load.finish()
        check = backend_check(sim, load)
        assert_clean(load, outcomes, check, procs.logs())
    finally:
        procs.stop_all()


def test_kill_fails_only_unknown_outcome_writes():
    """Every connection is dropped at once: reads and never-sent requests are retried, and only
    writes that were sent and not answered fail, with the distinct 'outcome is unknown' error."""
    procs = Procs("m-kill")
    try:
        sim = Simulator(procs)
        proxy = procs.respite(sim.port, args=RESPITE_ARGS + ("--maint-notifications", "enabled"))
        load = Load(proxy.addr, prefix="m-kill")
        load.start()
        sim.action("kill")
        load.wait_progress()
        outcomes = load.finish()
        check = backend_check(sim, load)
        report = summary(outcomes, check)
        print(report)
        others = [e for o in outcomes for e in o.errors
                  if o.name not in ("subscriber", "blpop", "multi-exec")]
        assert not others, f"errors other than unknown outcomes:\n{report}"
        assert not check["missing"], "an acknowledged write is missing"
        for o in outcomes:
            if o.name in check["counters"] and o.name != "multi-exec":
                c = check["counters"][o.name]
                assert o.acked_incr <= c <= o.acked_incr + len(o.unknown), \
                    f"{o.name}: counter {c} outside [{o.acked_incr}, {o.acked_incr + len(o.unknown)}]"
    finally:
        procs.stop_all()


def test_real_enterprise_when_configured():
    """The scenarios against a real Redis Enterprise, when pointed at one: the endpoints JSON of
    the ecosystem's e2e suites (REDIS_ENDPOINTS_CONFIG_PATH: {"<db>": {"endpoints":
    ["redis://host:port"], "username", "password", "bdb_id"}}) and the fault injector
    (FAULT_INJECTION_API_URL: POST /action {"type", "parameters"}, GET /action/<id>)."""
    import time
    import urllib.parse
    import urllib.request
    from harness import wait_until
    from maint_harness import check_writes
    endpoints = os.environ.get("REDIS_ENDPOINTS_CONFIG_PATH")
    injector = os.environ.get("FAULT_INJECTION_API_URL")
    if not endpoints or not injector:
        pytest.skip("REDIS_ENDPOINTS_CONFIG_PATH and FAULT_INJECTION_API_URL are not set: "
                    "no Redis Enterprise to run the scenarios against")
    with open(endpoints) as f:
        config = json.load(f)
    name, db = next(iter(config.items()))
    url = urllib.parse.urlparse(db["endpoints"][0])
    user, password = db.get("username"), db.get("password")
    args = ["--maint-notifications", "enabled", "--upstream", f"{url.hostname}:{url.port}"]
    if password:
        args += ["--upstream-password", password] + (["--upstream-user", user] if user else [])

    def run_action(kind):
        body = json.dumps({"type": kind, "parameters": {"bdb_id": str(db.get("bdb_id", ""))}}).encode()
        req = urllib.request.Request(f"{injector.rstrip('/')}/action", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        aid = json.loads(urllib.request.urlopen(req, timeout=30).read())["action_id"]

        def done():
            rec = json.loads(urllib.request.urlopen(f"{injector.rstrip('/')}/action/{aid}", timeout=30).read())
            return rec if rec.get("status") in ("success", "finished", "failed") else None
        rec = wait_until(done, 600.0, f"{kind} on {name}", interval=2.0)
        assert rec["status"] in ("success", "finished"), f"{kind} failed: {rec}"

    procs = Procs("enterprise")
    try:
        proxy = procs.respite(url.port, args=tuple(args))  # `--upstream` in args names the real host
        for kind in ("migrate", "failover", "bind"):
            load = Load(proxy.addr, prefix=f"re-{kind}-{int(time.time())}")
            load.start()
            run_action(kind)
            outcomes = load.finish()
            check = check_writes((url.hostname, url.port), load, (user or "default", password) if password else None)
            assert_clean(load, outcomes, check, procs.logs())
    finally:
        procs.stop_all()


def test_unreachable_moving_target_falls_back_and_breaker_cycles():
    """MOVING to an endpoint that refuses connections: Respite retries it, falls back to the
    configured address, and no client notices. Repeated, the target's circuit breaker opens (the
    next handoff goes straight to the configured address), then half-opens by time alone and
    lets a probe through."""
    import time
    from harness import free_port, wait_until
    dead = free_port()  # nothing listens here
    target = f"127.0.0.1:{dead}".encode()

    def moving(seq):
        return b">4\r\n$6\r\nMOVING\r\n:%d\r\n:2\r\n$%d\r\n%s\r\n" % (seq, len(target), target)

    procs = Procs("m-breaker")
    try:
        sim = Simulator(procs)
        proxy = procs.respite(sim.port, args=RESPITE_ARGS + (
            "--maint-notifications", "enabled", "--maint-handoff-retries", "2",
            "--maint-breaker-threshold", "2", "--maint-breaker-reset", "1s"))
        log = proxy.process.log
        load = Load(proxy.addr, prefix="m-breaker")
        load.start()
        sim.action("raw", query="encoding=raw", body=moving(201))
        wait_until(lambda: "reconnecting to" in log(), 10.0, "fallback to the configured address")
        wait_until(lambda: "is now open" in log(), 10.0, "the breaker to open")
        sim.action("raw", query="encoding=raw", body=moving(202))
        wait_until(lambda: "behind an open circuit breaker" in log(), 10.0, "a handoff refused by the open breaker")
        time.sleep(1.2)  # the breaker's reset time (1s) must pass: that is the behaviour under test
        sim.action("raw", query="encoding=raw", body=moving(203))
        wait_until(lambda: "is half-open" in log(), 10.0, "the breaker to half-open")
        load.wait_progress()
        outcomes = load.finish()
        check = backend_check(sim, load)
        assert_clean(load, outcomes, check, procs.logs())
    finally:
        procs.stop_all()


def test_maintenance_events_are_counted_in_metrics():
    """Each maintenance event is counted, and the counters are served on the admin endpoint."""
    import urllib.request
    from harness import free_port, wait_until
    admin = free_port()
    procs = Procs("m-metrics")
    try:
        sim = Simulator(procs)
        proxy = procs.respite(sim.port, args=RESPITE_ARGS + ("--maint-notifications", "enabled",
                                                             "--admin-port", str(admin)))
        load = Load(proxy.addr, prefix="m-metrics")
        load.start()
        sim.action("bind", time=2)
        sim.action("migrate", time=1, duration_ms=300)
        load.finish()

        def metrics():
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
                return r.read().decode()
        text = wait_until(lambda: (t := metrics()) and 'type="MIGRATED"} 0' not in t and t, 10.0, "MIGRATED counted")
        values = {line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line and not line.startswith("#")}
        assert values['respite_maintenance_events_total{type="MOVING"}'] >= 1
        assert values['respite_maintenance_events_total{type="MIGRATING"}'] >= 1
        assert values["respite_maintenance_handoffs_total"] == 1
        assert values["respite_maintenance_handoff_connections_total"] >= 1
        assert values["respite_clients_connected"] >= 0
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/healthz", timeout=5) as r:
            assert r.read() == b"ok\n"
    finally:
        procs.stop_all()


def test_simulator_relays_deep_replies_as_redis_made_them():
    """The simulator fronts a real redis-server: a 200-deep script reply passes through it, and
    through Respite in front of it, exactly as redis-server sends it (its framing has no depth
    limit, like Respite's upstream side)."""
    from harness import Conn
    deep = "local t = {1} for i = 1, 199 do t = {t} end return t"
    procs = Procs("m-deep")
    try:
        sim = Simulator(procs)
        proxy = procs.respite(sim.port, args=RESPITE_ARGS)
        with Conn(sim.backend(), timeout=10) as direct:
            want = direct.call_raw("EVAL", deep, "0")
        assert want.startswith(b"*1\r\n*1\r\n") and want.count(b"*1\r\n") == 200
        for addr in (("127.0.0.1", sim.port), proxy.addr):
            with Conn(addr, timeout=10) as c:
                assert c.call_raw("EVAL", deep, "0") == want, f"through {addr}"
    finally:
        procs.stop_all()


def test_client_unblock_reaches_a_connection_the_endpoint_moved_to_another_server():
    """A bind's new endpoint first fronts the old server, then switches its live connections to
    the promoted one: the upstream id a pinned connection learnt in between names nobody there.
    Respite learns it again before a blocking command once a maintenance came, so CLIENT UNBLOCK
    of a Respite client still releases it after the bind (before, it answered 1 and the client
    stayed blocked)."""
    import threading
    from harness import Conn, wait_until
    procs = Procs("m-unblock")
    try:
        sim = Simulator(procs)
        proxy = procs.respite(sim.port, args=RESPITE_ARGS + ("--maint-notifications", "enabled"))
        log = proxy.process.log
        # The old server's client ids run ahead of the new one's, so an old id cannot name the
        # same connection on the new server by chance.
        for _ in range(100):
            with Conn(("127.0.0.1", sim.port)) as c:
                assert c.call("PING") == "PONG"
        with Conn(proxy.addr) as b, Conn(proxy.addr) as a:
            bid = b.call("CLIENT", "ID")
            done = {}
            t = threading.Thread(target=lambda: done.setdefault("rec", sim.action("bind", time=3)), daemon=True)
            t.start()
            wait_until(lambda: "event=MOVING" in log(), 10.0, "Respite to act on the MOVING")
            # A pinned connection set up inside the window, to the new endpoint (old server).
            assert b.call("BLPOP", "m-unblock:never", "0.05") is None
            t.join(30)
            assert done.get("rec", {}).get("status") == "success"
            for attempt in range(3):
                b.send_cmd("BLPOP", "m-unblock:never", "0")
                wait_until(lambda: "flags=b" in a.call("CLIENT", "LIST", "ID", str(bid)).decode(), 5.0,
                           "Respite to take the BLPOP")
                assert a.call("CLIENT", "UNBLOCK", str(bid)) == 1
                assert b.read_raw(timeout=5) == b"*-1\r\n", f"attempt {attempt}"
    finally:
        procs.stop_all()


def publish_fast(addr, channel, stop, published, problems, shard_odd):
    """Pipelines PUBLISHes of 0, 1, 2, … (SPUBLISH for odd ones with `shard_odd`) in batches of
    20, as fast as they are answered, until `stop`; a message some subscriber heard (reply > 0)
    goes in `published`, anything unexpected in `problems`."""
    try:
        with Conn(addr, timeout=20.0) as c:
            n = 0
            while not stop.is_set():
                batch = list(range(n, n + 20))
                n += 20
                c.send(b"".join(cmd("SPUBLISH" if shard_odd and i % 2 else "PUBLISH", channel, str(i)) for i in batch))
                for i in batch:
                    raw = c.read_raw()
                    if not raw.startswith(b":"):
                        problems.append(f"publisher: {raw!r}")
                    elif raw != b":0\r\n":
                        published.append(i)
    except Exception as e:  # noqa: BLE001 - every failure is reported
        problems.append(f"publisher: {type(e).__name__}: {e}")


SUBSCRIBERS = (("resp2-channel", 2, "SUBSCRIBE", "ch"), ("resp3-channel", 3, "SUBSCRIBE", "ch"),
               ("resp3-pattern-all", 3, "PSUBSCRIBE", "*"), ("resp2-shard", 2, "SSUBSCRIBE", "ch"))


@pytest.mark.parametrize("name", ["bind-new-address", "bind-null-endpoint"])
def test_subscribers_hear_every_message_once_across_a_move(name):
    """A publisher pipelines PUBLISHes as fast as it is answered while the endpoint moves, so
    that messages are published while both the old and the new upstream connection of each
    subscriber are subscribed. Every subscriber — RESP2 and RESP3, a channel, a pattern matching
    every channel (Respite's own marker would show there) and a shard channel — hears every
    message, once and in order, and nothing else."""
    action, params = SCENARIOS[name]
    tag = f"ps-{name}"
    channel = f"{tag}:ch"
    procs = Procs(tag)
    stop, stop_publishing = threading.Event(), threading.Event()
    heard = {n: [] for n, *_ in SUBSCRIBERS}
    problems = []
    published = []

    def subscriber(label, proto, verb, what):
        try:
            with Conn(proxy.addr, timeout=20.0) as c:
                if proto == 3:
                    c.call("HELLO", "3")
                target = channel if what == "ch" else what
                c.send_cmd(verb, target)
                c.read_raw()
                kind = {"SUBSCRIBE": b"message", "PSUBSCRIBE": b"pmessage", "SSUBSCRIBE": b"smessage"}[verb]
                while not stop.is_set():
                    try:
                        v = c.read(timeout=0.2)
                    except TimeoutError:
                        continue
                    items = list(v)
                    if items[0] != kind or items[-2] != channel.encode():
                        problems.append(f"{label}: {v!r}"[:200])
                        continue
                    heard[label].append(int(items[-1]))
        except Exception as e:  # noqa: BLE001 - every failure is reported
            problems.append(f"{label}: {type(e).__name__}: {e}")

    def publisher():
        publish_fast(proxy.addr, channel, stop_publishing, published, problems, shard_odd=True)

    try:
        sim = Simulator(procs)
        proxy = procs.respite(sim.port, args=RESPITE_ARGS + ("--maint-notifications", "enabled", "--loglevel", "verbose"))
        threads = [threading.Thread(target=subscriber, args=s, daemon=True) for s in SUBSCRIBERS]
        threads.append(threading.Thread(target=publisher, daemon=True))
        for t in threads:
            t.start()
        wait_until(lambda: all(len(h) > 20 for h in heard.values()) or problems, 10.0, "every subscriber hears")
        sim.action(action, **params)
        mark = len(published)
        wait_until(lambda: len(published) > mark + 2000 or problems, 30.0, "publishing goes on after the move")
        stop_publishing.set()
        threads[-1].join(10.0)
        last = {False: max((i for i in published if i % 2 == 0), default=-1),
                True: max((i for i in published if i % 2 == 1), default=-1)}
        wait_until(lambda: problems or all(last[n == "resp2-shard"] in h for n, h in heard.items()), 10.0,
                   "every subscriber hears the last message")
        stop.set()
        for t in threads:
            t.join(10.0)
        log = procs.logs()
    finally:
        stop.set()
        procs.stop_all()
    assert not problems, f"{problems[:5]}\n{log[-3000:]}"
    assert log.count("subscriptions moved to upstream connection") >= len(SUBSCRIBERS), "the subscriptions did not move"
    for label, got in heard.items():
        # A message PUBLISH counted (some subscriber heard it) is heard by each subscriber of its
        # kind: SPUBLISH reaches only the shard subscriber, PUBLISH the others.
        # (From the first message it heard: before that it was not subscribed yet.)
        want = [i for i in published if (i % 2 == 1) == (label == "resp2-shard") and got and i >= got[0]]
        repeats = len(got) - len(set(got))
        disorder = [(a, b) for a, b in zip(got, got[1:]) if b <= a]
        missing = sorted(set(want) - set(got))
        assert not repeats and not disorder, f"{label}: {repeats} repeated, out of order {disorder[:5]}"
        assert not missing, f"{label}: {len(missing)} messages never heard, first {missing[:5]}\n{log[-6000:]}"


def test_subscriber_whose_user_may_not_use_the_marker_loses_nothing_across_a_move():
    """An ACL user limited to its own channels (`resetchannels`, Redis 7's default for new
    users) cannot subscribe to Respite's marker channel: the move finds no seam, and the old
    connection keeps delivering until the new one holds the subscription — a message may
    repeat, none is lost."""
    action, params = SCENARIOS["bind-new-address"]
    tag = "ps-acl"
    channel = f"{tag}:ch"
    procs = Procs(tag)
    stop, stop_publishing = threading.Event(), threading.Event()
    heard, published, problems = [], [], []

    def subscriber():
        try:
            with Conn(proxy.addr, timeout=20.0) as c:
                assert c.call("AUTH", "sub", "pw") == "OK"
                c.send_cmd("SUBSCRIBE", channel)
                c.read_raw()
                while not stop.is_set():
                    try:
                        v = c.read(timeout=0.2)
                    except TimeoutError:
                        continue
                    items = list(v)
                    if items[:2] != [b"message", channel.encode()]:
                        problems.append(f"subscriber: {v!r}"[:200])
                        continue
                    heard.append(int(items[2]))
        except Exception as e:  # noqa: BLE001
            problems.append(f"subscriber: {type(e).__name__}: {e}")

    def publisher():
        publish_fast(proxy.addr, channel, stop_publishing, published, problems, shard_odd=False)

    try:
        sim = Simulator(procs)
        with Conn(sim.backend(), timeout=10.0) as d:
            assert d.call("ACL", "SETUSER", "sub", "on", ">pw", "~*", "+@all", "resetchannels", f"&{tag}:*") == "OK"
        proxy = procs.respite(sim.port, args=RESPITE_ARGS + ("--maint-notifications", "enabled", "--loglevel", "verbose"))
        threads = [threading.Thread(target=subscriber, daemon=True), threading.Thread(target=publisher, daemon=True)]
        for t in threads:
            t.start()
        wait_until(lambda: len(heard) > 20 or problems, 10.0, "the subscriber hears")
        sim.action(action, **params)
        mark = len(published)
        wait_until(lambda: len(published) > mark + 2000 or problems, 30.0, "publishing goes on after the move")
        stop_publishing.set()
        threads[1].join(10.0)
        wait_until(lambda: problems or (published and published[-1] in heard), 10.0, "the last message is heard")
        stop.set()
        threads[0].join(10.0)
        log = procs.logs()
    finally:
        stop.set()
        stop_publishing.set()
        procs.stop_all()
    assert not problems, f"{problems[:5]}\n{log[-3000:]}"
    assert "marker channel was refused" in log, "the marker was not refused: the test saw nothing"
    missing = sorted(set(i for i in published if i >= heard[0]) - set(heard))
    assert not missing, f"{len(missing)} messages never heard, first {missing[:5]}\n{log[-3000:]}"
