"""The soak's measurements of Respite itself: RSS and open fds sampled from /proc every few
seconds, a least-squares slope after warm-up, and the pure judgement of those figures."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field


def rss_kb(pid: int) -> int:
    """VmRSS of `pid` in kB (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def fd_count(pid: int) -> int:
    """Open file descriptors of `pid` (0 when the process is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, in value per hour; 0 for fewer than 3."""
    n = len(points)
    if n < 3:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    sxx = sum((t - mx) ** 2 for t, _ in points)
    if sxx == 0:
        return 0.0
    sxy = sum((t - mx) * (v - my) for t, v in points)
    return sxy / sxx * 3600.0


def growth_verdict(points: list[tuple[float, float]], per_hour_limit: float, noise: float) -> dict:
    """Judges a series (value units: MB or fds) for growth after warm-up.

    The slope passes when it is under `per_hour_limit` per hour, or when what it adds up to over
    the fitted window is under `noise` (a short window cannot tell a leak from noise: a 2 MB step
    in two minutes reads as 60 MB/hour)."""
    slope = slope_per_hour(points)
    window_h = (points[-1][0] - points[0][0]) / 3600.0 if len(points) >= 2 else 0.0
    over_window = slope * window_h
    limit = max(per_hour_limit, noise / window_h) if window_h > 0 else per_hour_limit
    return {"samples": len(points), "window_s": round(window_h * 3600, 1), "slope_per_hour": round(slope, 2),
            "growth_over_window": round(over_window, 2), "limit_per_hour": round(limit, 2),
            "first": points[0][1] if points else None, "last": points[-1][1] if points else None,
            "max": max((v for _, v in points), default=None), "pass": slope <= limit}


@dataclass
class Sample:
    t: float          # seconds since the soak started
    rss_kb: int
    fds: int
    busy: str         # the hostile kind running at that moment, "" when none


@dataclass
class Sampler:
    """Samples Respite's RSS and fd count every `interval` seconds on its own thread, and on demand
    (`peak` for the hostile kinds, which sample faster while they run)."""
    pid: int
    t0: float
    interval: float = 2.0
    samples: list = field(default_factory=list)
    busy: str = ""

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.interval + 5)

    def sample(self) -> Sample:
        s = Sample(round(time.monotonic() - self.t0, 2), rss_kb(self.pid), fd_count(self.pid), self.busy)
        self.samples.append(s)
        return s

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def series(self, after: float, attr: str, scale: float = 1.0, rest_only: bool = False,
               until: float = float("inf")) -> list:
        """(t, value) samples from `after` to `until` seconds, at rest only if asked."""
        return [(s.t, getattr(s, attr) / scale) for s in self.samples
                if after <= s.t <= until and (not rest_only or not s.busy) and s.rss_kb > 0]


class PeakWatch:
    """Samples RSS and fds of a pid every 50 ms on a thread while a hostile kind runs."""

    def __init__(self, pid: int):
        self.pid = pid
        self.rss_peak_kb = rss_kb(pid)
        self.fd_peak = fd_count(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for _ in range(100_000):
            if self._stop.wait(0.05):
                return
            self.rss_peak_kb = max(self.rss_peak_kb, rss_kb(self.pid))
            self.fd_peak = max(self.fd_peak, fd_count(self.pid))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
