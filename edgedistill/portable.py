"""What differs between Linux, macOS and Windows, decided in one place: how worker processes start, how many
CPUs this process may use, and what the machine is called.

fork is used on Linux only: it is fast there and the workers inherit the memory-mapped stores. macOS's own
frameworks (Accelerate, Metal) are not safe across fork, which is why Python starts processes with spawn there
by default; Windows has no fork. Everything sent to a worker is therefore picklable and small.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import sys
from multiprocessing.context import BaseContext


def start_method(system: str | None = None) -> str:
    """fork on Linux, spawn on every other system (`system` as sys.platform spells it; default: this one)."""
    return "fork" if (system or sys.platform).startswith("linux") else "spawn"


def process_context() -> BaseContext:
    """The multiprocessing context for worker processes (decoding pools, DataLoader workers) on this system."""
    return multiprocessing.get_context(start_method())


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the system has one, else every CPU)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine() -> str:
    """The machine's architecture as the system names it (x86_64, arm64, AMD64, ...)."""
    return platform.machine() or "unknown"
