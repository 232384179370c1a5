"""Keep native (C++) log lines that bypass Python logging out of the user's terminal.

TensorFlow, LiteRT, absl, oneDNN and ONNX Runtime write straight to file descriptor 2, from C++,
whenever they like (at import, at the first conversion, at the first interpreter). Which lines appear
depends on the machine, so they are caught at the descriptor, not filtered by their text: a command
sends fd 2 to a log file for its whole run (`stderr_to`), and each conversion step sends it to the
stage's own log (`native_logs_to`). The console draws on its own duplicate of stderr, made before.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

LOG_LIMIT_BYTES = 8 << 20  # a command log past this starts afresh


@contextlib.contextmanager
def stderr_to(log: Path | None, header: str | None = None) -> Iterator[Path | None]:
    """Point file descriptor 2 (and sys.stderr, which writes to it) at `log`, appending, and back at the end.

    `header` starts this run's part of the file. With log None, nothing changes."""
    if log is None:
        yield None
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with _open_log(log, header) as fh:
            os.dup2(fh.fileno(), 2)
            try:
                yield log if fh.name == str(log) else None
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _open_log(log: Path, header: str | None):
    """The log opened for appending (afresh past LOG_LIMIT_BYTES); where it cannot be written (a full or
    read-only disk: the stage cache reports that in its own words), the null device, so that nothing leaks."""
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        fresh = not log.exists() or log.stat().st_size > LOG_LIMIT_BYTES
        fh = open(log, "wb" if fresh else "ab")
        try:
            if header is not None:
                stamp = datetime.datetime.now().isoformat(timespec="seconds")
                fh.write(f"=== {stamp} pid {os.getpid()}: {header}\n".encode())
                fh.flush()
        except OSError:
            fh.close()
            raise
        return fh
    except OSError:
        return open(os.devnull, "wb")


@contextlib.contextmanager
def native_logs_to(log: Path | None) -> Iterator[None]:
    """Send what native code writes to fd 2 during a conversion step to `log`, and silence the Python
    warnings the conversion libraries raise about their own internals."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with stderr_to(log):
            yield
