"""Process helpers shared by the benchmark scripts: free ports, PING checks, and services
started on 127.0.0.1 and stopped by PID."""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 10.0
PING = b"*1\r\n$4\r\nPING\r\n"

# --- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ping(port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(PING)
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class Service:
    """One process this script started, stopped by PID in `stop`."""

    name: str
    port: int
    proc: subprocess.Popen
    log: Path

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.tail()}")
            if ping(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer PING on {self.port}: {self.tail()}")

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def spawn(name: str, argv: list[str], port: int, workdir: Path) -> Service:
    log = workdir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    return Service(name, port, proc, log)


def start_redis(workdir: Path) -> Service:
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", str(workdir)]
    return spawn("redis", argv, port, workdir)


def start_twemproxy(workdir: Path, upstream: int) -> Service:
    port, stats = free_port(), free_port()
    conf = workdir / "nutcracker.yml"
    conf.write_text(
        "bench:\n"
        f"  listen: 127.0.0.1:{port}\n"
        "  redis: true\n"
        "  preconnect: true\n"
        "  server_connections: 1\n"
        "  auto_eject_hosts: false\n"
        "  servers:\n"
        f"   - 127.0.0.1:{upstream}:1\n"
    )
    argv = ["nutcracker", "-c", str(conf), "-s", str(stats), "-a", "127.0.0.1",
            "-p", str(workdir / "nutcracker.pid"), "-o", str(workdir / "nutcracker.log")]
    return spawn("twemproxy", argv, port, workdir)


def start_respite(workdir: Path, binary: Path, upstream: int, extra: list[str]) -> Service:
    port = free_port()
    argv = [str(binary), "--bind", "127.0.0.1", "--port", str(port),
            "--upstream", f"127.0.0.1:{upstream}", *extra]
    return spawn("respite", argv, port, workdir)




def raise_fd_limit(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
