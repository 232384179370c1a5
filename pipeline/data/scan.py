"""What an image folder holds: the image files a build reads, and what it leaves out (files of a type it does not
decode, such as a phone's .heic, files outside a class folder, folders nested in a class folder), summarised in
one line for the console and as `SkippedFiles` for report.json. Hidden files and folders are left out silently."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgedistill.contracts import SkippedFiles

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
MAX_EXTENSIONS = 10  # extensions named in a summary; the rest count as "other"
MAX_EXAMPLES = 3  # nested folders named in a summary


@dataclass(frozen=True)
class FolderScan:
    """One folder's entries, sorted: the images read, the files left out, and (not recursive) the folders left out."""

    images: list[Path]
    skipped: list[Path]
    nested: list[Path]


def scan_folder(folder: Path, recursive: bool) -> FolderScan:
    """The folder's image files (recursive: in every subfolder too), and the visible files and folders left out."""
    images: list[Path] = []
    skipped: list[Path] = []
    nested: list[Path] = []
    for path in folder.rglob("*") if recursive else folder.iterdir():
        if path.name.startswith("."):
            continue
        if path.is_dir():
            if not recursive:
                nested.append(path)
        elif path.is_file():
            (images if path.suffix.lower() in IMAGE_SUFFIXES else skipped).append(path)
    return FolderScan(sorted(images), sorted(skipped), sorted(nested))


def summarise(
    folder: Path, skipped: Sequence[Path], nested: Sequence[Path], outside: Sequence[Path] = ()
) -> SkippedFiles | None:
    """What `folder` left out, bounded whatever its size; None when nothing was. `outside`: files directly in an
    image folder (no class folder holds them), counted with `skipped`."""
    files = [*skipped, *outside]
    if not files and not nested:
        return None
    counts = Counter(p.suffix.lower() for p in files)
    by_extension = dict(counts.most_common(MAX_EXTENSIONS))
    rest = len(files) - sum(by_extension.values())
    if rest:
        by_extension["other"] = rest
    return SkippedFiles(
        folder=str(folder),
        files=len(files),
        by_extension=by_extension,
        outside_class_folders=len(outside),
        nested_folders=len(nested),
        nested_folder_examples=[p.relative_to(folder).as_posix() for p in nested[:MAX_EXAMPLES]],
    )


def skipped_line(s: SkippedFiles) -> str:
    """One line, e.g. "photos: skipped 12 files (10 .heic, 2 .txt); 3 nested folders (cat/old, dog/a, dog/b) ..."."""
    return f"{s.folder}: skipped {described(s)}"


def described(s: SkippedFiles) -> str:
    """What was left out, e.g. "12 files (10 .heic, 2 .txt)", bounded whatever the folder holds."""
    parts = []
    if s.files:
        kinds = ", ".join(f"{n:,} {ext or 'without extension'}" for ext, n in s.by_extension.items())
        outside = f", {s.outside_class_folders:,} of them in no class folder" if s.outside_class_folders else ""
        parts.append(f"{_count(s.files, 'file')} ({kinds}{outside})")
    if s.nested_folders:
        more = ", ..." if s.nested_folders > len(s.nested_folder_examples) else ""
        examples = ", ".join(s.nested_folder_examples)
        parts.append(
            f"{_count(s.nested_folders, 'nested folder')} ({examples}{more}): only a class folder's own files are read"
        )
    return "; ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
