"""Per-process CPU and memory while a scenario runs: what limited each figure.

Samples every named process (services, the load generator, the broker, the database server with
its backends) twice a second in a thread. The broker and the database are shared with the rest
of the machine, so their CPU is everyone's, which the report says.
"""

from __future__ import annotations

import contextlib
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

MACHINE = "machine (all processes)"
Targets = Callable[[], dict[str, list[int]]]  # label -> pids (resolved at every sample)


@dataclass
class Usage:
    cpu: dict[str, list[float]] = field(default_factory=dict)  # label -> % of one core
    rss: dict[str, list[int]] = field(default_factory=dict)  # label -> bytes (per process max)

    def mean_cpu(self) -> dict[str, float]:
        return {label: statistics.fmean(values) for label, values in self.cpu.items() if values}

    def top(self, count: int = 3) -> list[tuple[str, float]]:
        ranked = sorted(
            ((label, value) for label, value in self.mean_cpu().items() if label != MACHINE),
            key=lambda item: -item[1],
        )
        return [(label, round(value)) for label, value in ranked[:count] if value >= 5]

    def peak_rss_mb(self) -> dict[str, float]:
        return {label: max(values) / 2**20 for label, values in self.rss.items() if values}

    def median_rss_mb(self) -> dict[str, float]:
        return {
            label: statistics.median(values) / 2**20 for label, values in self.rss.items() if values
        }


class Sampler:
    def __init__(self, targets: Targets, interval: float = 0.5) -> None:
        self._targets = targets
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._processes: dict[int, psutil.Process] = {}
        self.usage = Usage()

    def __enter__(self) -> Usage:
        psutil.cpu_percent()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self.usage

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _process(self, pid: int) -> psutil.Process | None:
        """The process to read, or None when first seen: its first reading only starts the
        clock (reading again at once would divide by a near-zero interval)."""
        if pid not in self._processes:
            process = psutil.Process(pid)
            process.cpu_percent()
            self._processes[pid] = process
            return None
        return self._processes[pid]

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            machine = psutil.cpu_percent() * (psutil.cpu_count() or 1)
            self.usage.cpu.setdefault(MACHINE, []).append(machine)
            for label, pids in self._targets().items():
                cpu, rss = 0.0, 0
                for pid in pids:
                    try:
                        process = self._process(pid)
                        if process is None:
                            continue
                        cpu += process.cpu_percent()
                        rss = max(rss, process.memory_info().rss)
                    except psutil.Error:
                        continue
                self.usage.cpu.setdefault(label, []).append(cpu)
                self.usage.rss.setdefault(label, []).append(rss)


# Finding who listens on a port reads every process's open sockets (~50 ms of CPU here): the
# sampler asked twice a second for the broker and the database, and so took ~9% of a core
# from the scenarios it measured. The listener is found once and kept while it runs.
_LISTENERS: dict[int, psutil.Process] = {}


def _listener(port: int) -> psutil.Process | None:
    known = _LISTENERS.get(port)
    if known is not None and known.is_running():  # is_running also sees a reused pid
        return known
    for connection in psutil.net_connections(kind="tcp"):
        address = connection.laddr
        if connection.status == psutil.CONN_LISTEN and address and address.port == port:
            if connection.pid is None:
                return None
            _LISTENERS[port] = psutil.Process(connection.pid)
            return _LISTENERS[port]
    return None


def listener_pids(port: int, *, recursive: bool = False) -> list[int]:
    """The process listening on a loopback port (the broker, the database server) with its
    children (`recursive`: theirs too, e.g. every PostgreSQL backend)."""
    listener = _listener(port)
    if listener is None:
        return []
    with contextlib.suppress(psutil.Error):  # gone since: found again at the next sample
        return [listener.pid, *(c.pid for c in listener.children(recursive=recursive))]
    return []
