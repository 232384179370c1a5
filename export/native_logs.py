"""Keep native (C++) log lines that bypass Python logging out of the user's terminal."""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def native_logs_to(log: Path | None) -> Iterator[None]:
    """Send what native code writes straight to fd 2 (converter and TFLite delegate logs) to a file,
    and silence the Python warnings the conversion libraries raise about their own internals.

    Progress output is unaffected when its console writes to its own duplicate of stderr (the CLI's does).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if log is None:
            yield
            return
        sys.stderr.flush()
        saved = os.dup(2)
        with open(log, "ab") as fh:
            os.dup2(fh.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
