"""The decoded image store: every image of a data source, decoded and resized once, in one raw file of
(N, H, W, C) pixels (shape and dtype in meta.json) in the stage cache. Later epochs and later builds read it with np.memmap and
never decode again; its pages belong to the file, so the kernel can drop them under memory pressure.

A store is keyed by what it was made from (every file's path, size and mtime, the image size and
colour mode), built in a temporary folder and renamed into place, so a killed or failed build (a full
disk included) leaves no partial store. It is written with ordinary file writes, never through a
writable mapping, so a full disk is an error (ENOSPC), not a SIGBUS. Image folders are decoded by a
pool of worker processes.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedistill.errors import DataError
from edgedistill.fsutil import fsync_dir, fsync_tree
from edgedistill.pipeline.data.images import DecodeOptions, ImageTooLarge, read_image
from edgedistill.portable import process_context, usable_cpus

STORE_VERSION = 2  # 2: images turned upright by EXIF, alpha composited, 16-bit scaled (images.py)
IMAGES, LABELS, META = "images.bin", "labels.npy", "meta.json"
DECODE_CHUNK = 64  # images per task sent to a decoding worker

# (images done, images in all) -> None
Advance = Callable[[int, int], None]


@dataclass(frozen=True)
class StoredImages:
    """A finished store: its images (read-only memmap), labels, class names and a hash of its content."""

    folder: Path
    images: np.ndarray  # np.memmap, (N, H, W, C), uint8 0..255 or float32 0..1
    labels: np.ndarray  # (N,) int64
    class_names: list[str] | None
    content_sha256: str
    skipped: list[str]  # unreadable images left out (data.skip_bad_images)

    def __len__(self) -> int:
        return len(self.images)


def open_store(folder: Path) -> StoredImages:
    meta = json.loads((folder / META).read_text())
    return StoredImages(
        folder=folder,
        images=map_rows(folder / IMAGES, meta["dtype"], meta["shape"]),
        labels=np.load(folder / LABELS),
        class_names=meta["class_names"],
        content_sha256=meta["content_sha256"],
        skipped=meta["skipped"],
    )


def map_rows(path: Path, dtype: str, shape: Sequence[int]) -> np.ndarray:
    """A raw row file mapped read-only (an empty one as an empty array: mmap cannot map zero bytes)."""
    if int(np.prod(shape)) == 0:
        return np.empty(tuple(shape), dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=tuple(shape))


class RowWriter:
    """Appends rows of one shape and dtype to a raw file with plain writes; `rows` counts them."""

    def __init__(self, path: Path, item_shape: tuple[int, ...], dtype) -> None:
        self.path, self.item_shape, self.dtype = path, tuple(item_shape), np.dtype(dtype)
        self.rows = 0
        self._fh = open(path, "wb")

    def write(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, self.dtype)
        assert rows.shape[1:] == self.item_shape, (rows.shape, self.item_shape)
        self._fh.write(memoryview(rows).cast("B"))
        self.rows += len(rows)

    def close(self) -> tuple[int, ...]:
        self._fh.close()
        return (self.rows, *self.item_shape)


def source_key(parts: dict) -> str:
    return hashlib.sha256(json.dumps({"version": STORE_VERSION, **parts}, sort_keys=True).encode()).hexdigest()[:24]


def file_identity(path: Path) -> list:
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def cached_store(root: Path, key: str, make: Callable[[Path], None]) -> StoredImages:
    """The store under root/key, made by make(temp folder) when missing; atomic, and one line on a full disk.
    Processes that make the same store at once (ranks of several machines on one shared folder) keep the
    first one placed: the key is the content's, so theirs is the same."""
    final = root / key
    if (final / META).is_file():
        return open_store(final)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        make(tmp)
        if final.exists() and not (final / META).is_file():  # a damaged leftover, not another process's store
            shutil.rmtree(final)
        fsync_tree(tmp)  # on disk before it counts: a power cut leaves the whole store or none
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / META).is_file():
                raise  # else another process placed the same store while this one decoded: keep theirs
        fsync_dir(root)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise DataError(
                f"{root}: cannot write the decoded image store ({exc.strerror}); free space and build again"
            ) from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return open_store(final)


def write_arrays(folder: Path, x: np.ndarray, y: np.ndarray, class_names: list[str] | None) -> None:
    """A store from arrays already in memory (bundled data), written in chunks."""
    chunks = (x[start : start + 4096] for start in range(0, len(x), 4096))
    write_chunks(folder, x.shape[1:], x.dtype, chunks, y, class_names)


def write_chunks(
    folder: Path,
    item_shape: tuple[int, ...],
    dtype,
    chunks: Iterable[np.ndarray],
    y: np.ndarray,
    class_names: list[str] | None,
) -> None:
    """A store from chunks of rows read one at a time (an .npz streamed from its file): memory holds one chunk."""
    writer = RowWriter(folder / IMAGES, tuple(item_shape), dtype)
    digest = _content_digest(tuple(item_shape), dtype)
    for chunk in chunks:
        if len(chunk):
            chunk = np.ascontiguousarray(chunk, writer.dtype)
            writer.write(chunk)
            digest.update(memoryview(chunk).cast("B"))
    assert writer.rows == len(y), (writer.rows, len(y))
    _finish(folder, writer, y, class_names, digest.hexdigest(), [])


def decode_files(
    folder: Path,
    files: Sequence[Path],
    labels: np.ndarray,
    class_names: list[str] | None,
    options: DecodeOptions,
    skip_bad: bool,
    workers: int,
    advance: Advance,
) -> None:
    """Decode image files (in order) into a store with a pool of `workers` processes; the main process writes
    the memmap in file order, so the store and its hash do not depend on the number of workers."""
    if not files:
        raise DataError("no images to decode")
    first = _first_readable(files, options, skip_bad)
    writer = RowWriter(folder / IMAGES, first.shape, np.uint8)
    keep = np.ones(len(files), bool)
    skipped: list[str] = []
    digest = _content_digest(first.shape, np.uint8)  # the readable images' bytes, in file order
    chunks = [files[i : i + DECODE_CHUNK] for i in range(0, len(files), DECODE_CHUNK)]
    done = 0
    with _pool(workers) as run:
        for start, results in zip(
            range(0, len(files), DECODE_CHUNK),
            run(_decode_chunk, chunks, [options] * len(chunks)),
            strict=True,
        ):
            decoded = []
            for offset, (file, result) in enumerate(zip(files[start : start + DECODE_CHUNK], results, strict=True)):
                if isinstance(result, str):  # the reason it could not be read
                    if not skip_bad:
                        raise DataError(_unreadable(file, result))
                    keep[start + offset] = False
                    skipped.append(f"{file}: {result}")
                    continue
                if result.shape != first.shape:
                    raise DataError(
                        f"{file}: image is {result.shape[1]}x{result.shape[0]} but others are "
                        f"{first.shape[1]}x{first.shape[0]}; set data.image_size"
                    )
                decoded.append(result)
            if decoded:
                batch = np.stack(decoded)
                writer.write(batch)
                digest.update(batch.tobytes())
            done += len(results)
            advance(done, len(files))
    _finish(folder, writer, labels[keep], class_names, digest.hexdigest(), skipped)


def _content_digest(item_shape: tuple, dtype: np.dtype):
    """sha256 over (one image's shape, dtype) and then every image's bytes in row order."""
    digest = hashlib.sha256()
    digest.update(repr((tuple(item_shape), str(np.dtype(dtype)))).encode())
    return digest


def _finish(
    folder: Path, writer: RowWriter, y: np.ndarray, class_names: list[str] | None, content: str, skipped: list[str]
) -> None:
    shape = writer.close()
    np.save(folder / LABELS, np.asarray(y, np.int64))
    meta = {
        "version": STORE_VERSION,
        "shape": list(shape),
        "dtype": str(writer.dtype),
        "class_names": class_names,
        "content_sha256": content,
        "skipped": skipped,
    }
    (folder / META).write_text(json.dumps(meta, indent=1))


def _decode_chunk(files: Sequence[Path], options: DecodeOptions) -> list:
    """Worker: each file decoded, or the reason it could not be."""
    from PIL import Image, UnidentifiedImageError

    out: list = []
    for file in files:
        try:
            out.append(read_image(file, options))
        except ImageTooLarge as exc:
            out.append(f"too large: {exc}")
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            out.append(exc.__class__.__name__)
    return out


def _unreadable(file: Path, reason: str) -> str:
    if reason.startswith("too large"):
        return f"{file}: image {reason}; shrink or remove it, raise data.max_image_pixels, or set data.skip_bad_images"
    return f"{file}: cannot read image ({reason}); fix or remove it, or set data.skip_bad_images"


def _first_readable(files: Sequence[Path], options: DecodeOptions, skip_bad: bool) -> np.ndarray:
    for result, file in zip(_decode_chunk(files[:DECODE_CHUNK], options), files, strict=False):
        if not isinstance(result, str):
            return result
        if not skip_bad:
            raise DataError(_unreadable(file, result))
    raise DataError(f"{files[0].parent}: none of the first {min(len(files), DECODE_CHUNK)} images can be read")


class _pool:
    """map() over worker processes (or in this process for workers <= 1), results in order, with at most
    2 tasks per worker in flight: decoded images never pile up in memory faster than they are written."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> Callable[..., Iterator]:
        if self.workers <= 1:
            return map
        self.executor = ProcessPoolExecutor(self.workers, mp_context=process_context())
        return self._bounded_map

    def _bounded_map(self, fn: Callable, *iterables) -> Iterator:
        from collections import deque

        assert self.executor is not None
        pending: deque = deque()
        for args in zip(*iterables, strict=True):
            pending.append(self.executor.submit(fn, *args))
            if len(pending) >= 2 * self.workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def __exit__(self, *exc) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)


def decode_workers(requested: int | None) -> int:
    """Decoding processes: as asked, else one per CPU this process may use."""
    if requested is not None:
        return requested
    return usable_cpus()
