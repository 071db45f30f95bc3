"""CPU and memory of the stack's processes, from /proc."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path


def process_groups() -> dict[int, list[int]]:
    """Live (non-zombie) pids by process group, in one pass over /proc."""
    groups: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            fields = text[text.rindex(")") + 2 :].split()
            if fields[0] != "Z":
                groups.setdefault(int(fields[2]), []).append(int(stat.parent.name))
    return groups


def cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        text = Path(f"/proc/{pid}/stat").read_text()
        fields = text[text.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def status_kb(pid: int, key: str) -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class MemorySampler:
    """Samples the RSS of every process group of the stack (and extra ones) every 0.5 s; keeps the
    peak of each group's total within the current window."""

    def __init__(self, groups: dict[str, int]) -> None:
        self.groups = dict(groups)
        self.window = ""
        self.peaks: dict[str, dict[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            window = self.window
            if not window:
                continue
            peaks = self.peaks.setdefault(window, {})
            groups = process_groups()
            for name, pgid in list(self.groups.items()):
                mb = sum(status_kb(pid, "VmRSS") for pid in groups.get(pgid, [])) / 1024
                peaks[name] = max(peaks.get(name, 0.0), round(mb, 1))

    def cpu(self) -> dict[str, float]:
        groups = process_groups()
        return {
            name: round(sum(cpu_seconds(pid) for pid in groups.get(pgid, [])), 2)
            for name, pgid in self.groups.items()
        }

    def high_water(self) -> dict[str, dict[str, float]]:
        groups = process_groups()
        return {
            name: {str(pid): round(status_kb(pid, "VmHWM") / 1024, 1) for pid in groups.get(pgid, [])}
            for name, pgid in self.groups.items()
        }
