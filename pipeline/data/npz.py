"""An .npz read without loading it: each array's .npy header first, then its rows in chunks of about
CHUNK_BYTES straight from the zip member (np.savez and np.savez_compressed alike: a zip member is read as a
stream), so memory holds one chunk whatever the file's size. A damaged file is one line naming it."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from edgedistill.errors import DataError

CHUNK_BYTES = 16 << 20  # raw bytes of one chunk of rows


@dataclass(frozen=True)
class ArrayHeader:
    """What an .npy member holds, from its header alone."""

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize


class NpzFile:
    """An open .npz: its array names, each array's header, a small array whole, a large one row chunk by chunk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip = self._guard(lambda: zipfile.ZipFile(path))

    def __enter__(self) -> NpzFile:
        return self

    def __exit__(self, *exc) -> None:
        self._zip.close()

    @property
    def names(self) -> list[str]:
        return [n[: -len(".npy")] for n in self._zip.namelist() if n.endswith(".npy")]

    def header(self, name: str) -> ArrayHeader:
        with self._member(name) as fh:
            return self._header(fh, name)

    def read(self, name: str) -> np.ndarray:
        """A whole array (for small ones: the labels)."""
        with self._member(name) as fh:
            self._header(fh, name)  # refuses object arrays with a clear line
            fh.seek(0)
            return self._guard(lambda: np.lib.format.read_array(fh, allow_pickle=False))

    def rows(self, name: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[np.ndarray]:
        """The array's rows in order, about chunk_bytes at a time (a Fortran-ordered array, rare, is read whole)."""
        with self._member(name) as fh:
            head = self._header(fh, name)
            if not head.shape:
                raise DataError(f"{self.path}: {name} must be an array of rows, got a scalar")
            step = max(1, chunk_bytes // max(1, head.row_bytes))
            if head.fortran_order:  # its rows are not contiguous in the file
                fh.seek(0)
                whole = self._guard(lambda: np.lib.format.read_array(fh, allow_pickle=False))
                for start in range(0, len(whole), step):
                    yield np.ascontiguousarray(whole[start : start + step])
                return
            for start in range(0, head.shape[0], step):
                count = min(step, head.shape[0] - start)
                size = count * head.row_bytes
                data = self._guard(lambda size=size: fh.read(size))
                if len(data) != size:
                    raise DataError(
                        f"{self.path}: {name} is cut short ({head.shape[0]:,} rows announced); write it again"
                    )
                yield np.frombuffer(data, head.dtype).reshape(count, *head.shape[1:])

    def _member(self, name: str) -> IO[bytes]:
        return self._guard(lambda: self._zip.open(f"{name}.npy"))

    def _header(self, fh: IO[bytes], name: str) -> ArrayHeader:
        fmt = np.lib.format

        def parse() -> tuple:
            version = fmt.read_magic(fh)
            if version == (1, 0):
                return fmt.read_array_header_1_0(fh)
            if version == (2, 0):
                return fmt.read_array_header_2_0(fh)
            raise ValueError(f"npy format {version}")

        shape, fortran_order, dtype = self._guard(parse)
        if dtype.hasobject:
            raise DataError(f"{self.path}: {name} must be a numeric array, got Python objects ({dtype})")
        return ArrayHeader(tuple(shape), np.dtype(dtype), bool(fortran_order))

    def _guard(self, read):
        """read(), with a damaged file's error (bad zip, bad CRC, bad header, cut short) as one line."""
        try:
            return read()
        except DataError:
            raise
        except Exception as exc:  # zipfile / zlib / value errors from a damaged file
            raise DataError(f"{self.path}: not a readable .npz file ({type(exc).__name__})") from None
