"""Respite takes exactly the request frames redis-server takes. A frame Redis's parser refuses
(`$04`, `*01`, `$-0`, `+1` …) is answered by Respite itself with Redis's error and closes only
that client: were it forwarded, Redis would close the shared upstream connection and fail
every other client's requests in flight on it."""

import random
import socket
import time

import pytest

from harness import Conn, cmd

# Frames Redis refuses although their numbers look fine to a lenient parser.
NEAR_MISSES = [
    b"*1\r\n$04\r\nPING\r\n",
    b"*01\r\n$4\r\nPING\r\n",
    b"*1\r\n$-0\r\n",
    b"*1\r\n$00\r\n\r\n",
    b"*-0\r\n",
    b"*00\r\n",
    b"*+1\r\n$4\r\nPING\r\n",
    b"*1\r\n$+4\r\nPING\r\n",
    b"*2\r\n$3\r\nGET\r\n$01\r\nk\r\n",
    b"*1\r\n$ 4\r\nPING\r\n",
    b"*1\r\n$4 \r\nPING\r\n",
    b"*1\r\n$00000000000000000004\r\nPING\r\n",
]

SENTINEL = cmd("ECHO", "sentinel")
SENTINEL_REPLY = b"$8\r\nsentinel\r\n"
# Empty lines after each frame: a count or bulk length that was taken but is too big for the
# bytes sent runs into them and ends in Redis's "expected '$'" instead of waiting.
PADDING = b"\r\n" * 1100


def transcript(ep, data: bytes, deadline: float = 3.0):
    """Everything the server answers to `data` + a sentinel ECHO: up to the sentinel's reply,
    the close, or (bounded) silence."""
    s = socket.socket(socket.AF_UNIX if isinstance(ep.addr, str) else socket.AF_INET, socket.SOCK_STREAM)
    s.connect(ep.addr)
    try:
        s.sendall(data + PADDING + SENTINEL)
        out = b""
        end = time.monotonic() + deadline
        while not out.endswith(SENTINEL_REPLY):
            remaining = end - time.monotonic()
            if remaining <= 0:
                return out, "open"
            s.settimeout(remaining)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return out, "closed"
            if not chunk:
                return out, "closed"
            out += chunk
        return out, "answered"
    finally:
        s.close()


@pytest.mark.parametrize("frame", NEAR_MISSES, ids=[repr(f)[2:30] for f in NEAR_MISSES])
def test_near_miss_gets_redis_error_and_close(proxy, redis, frame):
    want = transcript(redis, frame)
    assert want[1] == "closed" and want[0].startswith(b"-ERR Protocol error: "), want
    assert transcript(proxy, frame) == want


def test_near_misses_never_fail_another_clients_pipeline(proxy, redis, key):
    """2,000 pipelined INCRs of another client all succeed while near-miss frames arrive
    between them: the shared upstream connection is never closed under them."""
    k = key + "n"
    with Conn(proxy.addr, timeout=20) as other:
        assert other.call("DEL", k) in (0, 1)
        replies = []
        for i in range(20):
            bad = NEAR_MISSES[i % len(NEAR_MISSES)]
            with Conn(proxy.addr, timeout=10) as c:
                other.send(cmd("INCR", k) * 50)
                c.send(bad)
                other.send(cmd("INCR", k) * 50)
                assert c.read_raw().startswith(b"-ERR Protocol error: ")
                assert c.wait_closed(5) == b""
            replies += [other.read() for _ in range(100)]
        assert replies == list(range(1, 2001))
        assert other.call("GET", k) == b"2000"
    with Conn(redis.addr) as d:
        assert d.call("GET", k) == b"2000"


def corpus():
    """Tricky frames: every count and bulk-length spelling below, line ends Redis treats
    specially, inline lines, and seeded random mutations of the number fields."""
    numbers = ["1", "01", "+1", "-0", "00", " 1", "1 ", "", "-", "0", "-1", "-5", "1x", "x", "0x1",
               "9223372036854775807", "9223372036854775808", "-9223372036854775808",
               "-9223372036854775809", "0001", "1\t", "\t1", "2147483648", "99999999999999999999"]
    lengths = ["4", "04", "+4", "-0", "00", " 4", "4 ", "", "-", "-1", "0004", "4x", "0", "3", "5",
               "536870913", "18446744073709551620", "-9223372036854775808"]
    frames = [b"*" + n.encode() + b"\r\n$4\r\nPING\r\n" for n in numbers]
    frames += [b"*1\r\n$" + n.encode() + b"\r\nPING\r\n" for n in lengths]
    frames += [b"*2\r\n$4\r\nECHO\r\n$" + n.encode() + b"\r\nhullo\r\n" for n in lengths]
    for sep in [b"\r\n", b"\rX", b"\r\r", b"\n", b"\n\r"]:
        frames.append(b"*1" + sep + b"$4" + sep + b"PING\r\n")
    frames += [b"*1\r\n$4\r\nPINGxx", b"*1\r\nx\r\n", b"*1\r\n:1\r\n",
               b"ECHO a\x0bb\r\n", b"ECHO a\x0cb\r\n", b"\x0b\x0c\r\n", b'ECHO "a"\x0b\r\n',
               b'ECHO "a\\x4"\r\n', b'ECHO a"b c"d\r\n', b"ECHO 'a'b\r\n", b"ECHO \"a\\\"b\"\r\n"]
    rng = random.Random(8)
    alphabet = "0123456789+- x\t"
    for _ in range(120):
        count = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3)))
        length = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 3)))
        sep = rng.choice(["\r\n", "\r\n", "\r\n", "\rX", "\n"])
        frames.append(f"*{count}{sep}$4\r\nECHO\r\n${length}\r\nhullo\r\n".encode())
    return frames


def test_accepts_and_refuses_exactly_what_redis_does(proxy, redis):
    """Each corpus frame gets the same answer, and the same close, from Respite as from redis."""
    diffs = []
    for frame in corpus():
        want = transcript(redis, frame)
        got = transcript(proxy, frame)
        if got != want:
            diffs.append(f"{frame!r}: redis {want!r} respite {got!r}")
    assert not diffs, "\n".join(diffs)
