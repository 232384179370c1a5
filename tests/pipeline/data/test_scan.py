"""What a data folder holds but the build does not read (a phone's .heic, notes, folders nested in a class folder),
and classes too small for the split: one console line each, kept in the bundle for report.json, on a cached
build too."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from edgedistill.contracts import DataSummary
from edgedistill.errors import DataError
from edgedistill.pipeline.config import DataConfig
from edgedistill.pipeline.data.bundle import load_data
from edgedistill.pipeline.data.scan import scan_folder, skipped_line, summarise
from edgedistill.pipeline.report.assemble import data_summary
from edgedistill.progress import Progress


def png(path, level=0, size=(6, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), level, np.uint8)).save(path)


def classes(root, counts: dict[str, int]) -> None:
    for c, (name, n) in enumerate(counts.items()):
        for i in range(n):
            png(root / name / f"{i:03d}.png", 40 * c + i)


def captured() -> tuple[Progress, io.StringIO]:
    out = io.StringIO()
    return Progress(Console(file=out, width=400), enabled=False), out


def test_skipped_files_and_nested_folders_are_one_console_line_and_kept_for_the_report(tmp_path):
    photos = tmp_path / "photos"
    classes(photos, {"cat": 10, "dog": 10})
    for name in ("cat/IMG_0001.HEIC", "cat/IMG_0002.heic", "dog/IMG_0003.avif", "dog/notes.txt", "README"):
        (photos / name).write_bytes(b"not read")
    png(photos / "cat" / "old" / "000.png")  # a nested folder: its images are not read
    png(photos / "stray.png")  # in no class folder
    (photos / "cat" / ".DS_Store").write_bytes(b"hidden: left out silently")
    progress, out = captured()
    data = load_data(DataConfig(image_folder=photos, workers=0), tmp_path / "cache", progress)
    assert data.labelled_rows == 20
    [skipped] = data.skipped_files
    assert skipped.files == 6 and skipped.outside_class_folders == 2
    assert skipped.by_extension == {".heic": 2, ".avif": 1, ".txt": 1, "": 1, ".png": 1}
    assert skipped.nested_folders == 1 and skipped.nested_folder_examples == ["cat/old"]
    line = skipped_line(skipped)
    assert line == (
        f"{photos}: skipped 6 files (2 .heic, 1 .avif, 1 .txt, 1 without extension, 1 .png, 2 of them in no class "
        "folder); 1 nested folder (cat/old): only a class folder's own files are read"
    )
    assert data.warnings == [line] and out.getvalue() == f"warning: {line}\n"
    summary = data_summary(data)  # what report.json carries
    assert summary.skipped_files == data.skipped_files and summary.warnings == data.warnings
    assert DataSummary.model_validate_json(summary.model_dump_json()) == summary

    progress, out = captured()  # the store is cached now: the folder is still scanned, the line still shown
    again = load_data(DataConfig(image_folder=photos, workers=0), tmp_path / "cache", progress)
    assert again.skipped_files == data.skipped_files and out.getvalue() == f"warning: {line}\n"


def test_the_summary_stays_short_whatever_the_folder_holds(tmp_path):
    for i in range(14):
        (tmp_path / "c" / f"sub{i:02d}").mkdir(parents=True)
        (tmp_path / "c" / f"file.x{i:02d}").write_bytes(b"")
    (tmp_path / "c" / "more.x00").write_bytes(b"")
    scan = scan_folder(tmp_path / "c", recursive=False)
    assert scan.images == [] and len(scan.skipped) == 15 and len(scan.nested) == 14
    s = summarise(tmp_path, scan.skipped, scan.nested)
    assert s is not None and s.files == 15 and s.by_extension[".x00"] == 2
    assert len(s.by_extension) == 11 and s.by_extension["other"] == 4 and sum(s.by_extension.values()) == 15
    assert s.nested_folder_examples == ["c/sub00", "c/sub01", "c/sub02"] and "(c/sub00, c/sub01, c/sub02, ...)" in (
        skipped_line(s)
    )


def test_a_class_folder_of_heic_photos_only_says_what_it_holds(tmp_path):
    classes(tmp_path, {"cat": 4})
    for i in range(3):
        (tmp_path / "dog" / f"IMG_{i}.heic").parent.mkdir(exist_ok=True)
        (tmp_path / "dog" / f"IMG_{i}.heic").write_bytes(b"")
    with pytest.raises(DataError, match=r"dog: class folder holds no images it reads; it holds 3 files \(3 .heic\)$"):
        load_data(DataConfig(image_folder=tmp_path, workers=0), tmp_path / ".cache")


def test_the_unlabeled_folder_reports_the_files_it_skips(tmp_path):
    classes(tmp_path / "labelled", {"a": 6, "b": 6})
    png(tmp_path / "pool" / "x" / "1.png")
    (tmp_path / "pool" / "x" / "2.heic").write_bytes(b"")
    progress, out = captured()
    data = load_data(
        DataConfig(image_folder=tmp_path / "labelled", unlabeled=tmp_path / "pool", workers=0),
        tmp_path / ".c",
        progress,
    )
    assert len(data.transfer) == 1 and [s.folder for s in data.skipped_files] == [str(tmp_path / "pool")]
    assert data.skipped_files[0].by_extension == {".heic": 1} and data.skipped_files[0].nested_folders == 0
    assert out.getvalue() == f"warning: {tmp_path / 'pool'}: skipped 1 file (1 .heic)\n"


def test_a_class_too_small_for_the_split_is_named_in_one_warning(tmp_path):
    classes(tmp_path / "photos", {"cat": 20, "dog": 20, "eel": 1, "fox": 3})
    progress, out = captured()
    data = load_data(DataConfig(image_folder=tmp_path / "photos", workers=0), tmp_path / "cache", progress)
    line = (
        "2 classes too small for data.split, never scored there: 'eel' (1 image: no val, no test), "
        "'fox' (3 images: no val); add images or merge classes"
    )
    assert data.warnings == [line] and out.getvalue() == f"warning: {line}\n"
    assert 2 not in data.val.y and 2 not in data.test.y and 3 not in data.val.y and 3 in data.test.y
    progress, out = captured()
    even = load_data(DataConfig(image_folder=tmp_path / "photos", split={"val": 0.34, "test": 0.34}), None, progress)
    assert even.warnings == [
        "class too small for data.split, never scored there: 'eel' (1 image: no val, no test); add images or merge "
        "classes"
    ]
