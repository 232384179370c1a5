"""The command line: bad input gives one line and a non-zero exit, and leaves build/ untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from edgedistill.pipeline.config import default_config, load_config
from tests.conftest import run_cli, tiny_config, write_config


def assert_one_line_failure(proc, *needles: str) -> str:
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def assert_nothing_built(folder: Path) -> None:
    build = folder / "build"
    assert not build.exists() or not any(build.rglob("*")), sorted(build.rglob("*"))


def _single_class_folder(root: Path) -> Path:
    (root / "imgs" / "cat").mkdir(parents=True)
    for i in range(4):
        Image.fromarray(np.full((8, 8), i * 40, np.uint8)).save(root / "imgs" / "cat" / f"{i}.png")
    return root / "imgs"


def _npz(root: Path, **arrays) -> str:
    path = root / "bad.npz"
    np.savez(path, **arrays)
    return str(path)


def _folder_with_a_broken_image(root: Path) -> Path:
    folder = _mixed_size_folder(root)
    (folder / "a" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG header, then nothing
    return folder


def _pickled_module_checkpoint(root: Path) -> str:
    """A checkpoint that pickles a whole module: loading it would run code, so weights_only refuses it."""
    import torch

    torch.save(torch.nn.Linear(2, 2), root / "module.pt")
    return str(root / "module.pt")


def _pickled_logits(root: Path) -> str:
    np.save(root / "logits.npy", np.array([{"evil": 1}] * 1797, dtype=object), allow_pickle=True)
    return "logits.npy"


def _mixed_size_folder(root: Path) -> Path:
    for cls in ("a", "b"):
        (root / "mixed" / cls).mkdir(parents=True)
        for i in range(6):
            size = (12, 9) if (cls, i) == ("b", 3) else (10, 10)
            Image.fromarray(np.full(size[::-1], i * 30, np.uint8)).save(root / "mixed" / cls / f"{i}.png")
    return root / "mixed"


CASES = {
    "negative epochs": (
        lambda root, cfg: cfg["distillation"].update(epochs=-2),
        ["distillation.epochs", "greater than or equal to 1"],
    ),
    "temperature zero": (
        lambda root, cfg: cfg["distillation"].update(temperature=0),
        ["distillation.temperature", "greater than 0"],
    ),
    "wrong type": (
        lambda root, cfg: cfg["distillation"].update(epochs="many"),
        ["distillation.epochs", "valid integer"],
    ),
    "empty dataset": (
        lambda root, cfg: cfg.update(
            data={"npz": _npz(root, x=np.zeros((0, 8, 8), np.uint8), y=np.zeros(0, np.int64))}
        ),
        ["bad.npz", "empty"],
    ),
    "labels out of range": (
        lambda root, cfg: cfg.update(
            data={"npz": _npz(root, x=np.zeros((60, 8, 8), np.uint8), y=np.arange(60) % 4), "labels": ["a", "b", "c"]}
        ),
        ["bad.npz", "labels must lie in 0..2, found 0..3"],
    ),
    "images of mixed sizes": (
        lambda root, cfg: cfg.update(data={"image_folder": str(_mixed_size_folder(root)), "grayscale": True}),
        ["3.png", "image is 12x9 but others are 10x10", "data.image_size"],
    ),
    "missing checkpoint": (
        lambda root, cfg: cfg["teacher"].update(checkpoint=str(root / "nope.pt")),
        ["nope.pt", "not found"],
    ),
    "corrupt checkpoint": (
        lambda root, cfg: (
            (root / "bad.pt").write_bytes(b"\x00garbage" * 50),
            cfg["teacher"].update(checkpoint=str(root / "bad.pt")),
        ),
        ["bad.pt", "not a readable PyTorch state_dict"],
    ),
    "unknown key": (
        lambda root, cfg: cfg["distillation"].update(temprature=4),
        ["edgedistill.yaml", "distillation.temprature", "unknown key"],
    ),
    "alpha out of range": (
        lambda root, cfg: cfg["distillation"].update(alpha=1.5),
        ["distillation.alpha", "less than or equal to 1"],
    ),
    "single-class folder": (
        lambda root, cfg: cfg.update(data={"image_folder": str(_single_class_folder(root)), "grayscale": True}),
        ["imgs", "at least 2 class subfolders"],
    ),
    "unknown student": (
        lambda root, cfg: cfg["student"].update(name="resnet9000"),
        ["student.name", "unknown student 'resnet9000'"],
    ),
    "unknown target in config": (
        lambda root, cfg: cfg.update(targets=["toaster"]),
        ["targets", "unknown target 'toaster'"],
    ),
    "logits with the wrong number of rows": (
        lambda root, cfg: (
            np.save(root / "logits.npy", np.zeros((100, 10), np.float32)),
            cfg.update(teacher={"logits": "logits.npy"}),
        ),
        ["logits.npy", "100 rows", "1797 samples", "one row per sample"],
    ),
    "hint layer that does not exist": (
        lambda root, cfg: cfg["distillation"].update(hints=[{"teacher": "layer9", "student": "features.1"}]),
        ["distillation.hints[0].teacher", "no layer 'layer9'", "layer1"],
    ),
    "negative temperature": (
        lambda root, cfg: cfg["distillation"].update(temperature=-1),
        ["distillation.temperature", "greater than 0"],
    ),
    "alpha below zero": (
        lambda root, cfg: cfg["distillation"].update(alpha=-0.1),
        ["distillation.alpha", "greater than or equal to 0"],
    ),
    "zero batch size": (
        lambda root, cfg: cfg["distillation"].update(batch_size=0),
        ["distillation.batch_size", "greater than or equal to 1"],
    ),
    "unknown export format": (
        lambda root, cfg: cfg.update(export={"formats": ["tflite_int4"]}),
        ["export.formats", "tflite_int4"],
    ),
    "prune ratio of 1": (lambda root, cfg: cfg.update(prune={"ratio": 1.0}), ["prune.ratio", "less than 1"]),
    "relative path out of the config folder": (
        lambda root, cfg: cfg.update(data={"npz": "../../digits.npz"}),
        ["data.npz", "'../../digits.npz' points outside the config's folder"],
    ),
    "npz without labels": (
        lambda root, cfg: cfg.update(data={"npz": _npz(root, x=np.zeros((60, 8, 8), np.uint8))}),
        ["bad.npz", "needs arrays 'x' and 'y'"],
    ),
    "float images above 1": (
        lambda root, cfg: cfg.update(
            data={"npz": _npz(root, x=np.full((60, 8, 8), 255.0, np.float32), y=np.arange(60) % 3)}
        ),
        ["bad.npz", "float images must lie in [0, 1]"],
    ),
    "too few samples to split": (
        lambda root, cfg: cfg.update(data={"npz": _npz(root, x=np.zeros((4, 8, 8), np.uint8), y=np.arange(4) % 2)}),
        ["bad.npz", "too few samples (4)"],
    ),
    "image folder not found": (
        lambda root, cfg: cfg.update(data={"image_folder": str(root / "nowhere")}),
        ["nowhere", "image folder not found"],
    ),
    "unreadable image": (
        lambda root, cfg: cfg.update(data={"image_folder": str(_folder_with_a_broken_image(root)), "grayscale": True}),
        ["2.png", "cannot read image"],
    ),
    "checkpoint that pickles code": (
        lambda root, cfg: cfg["teacher"].update(checkpoint=_pickled_module_checkpoint(root)),
        ["module.pt", "not a readable PyTorch state_dict"],
    ),
    "logits saved as pickled objects": (
        lambda root, cfg: cfg.update(teacher={"logits": _pickled_logits(root)}),
        ["logits.npy", "not a loadable"],
    ),
    "config that is not YAML": (
        lambda root, cfg: "teacher: {factory: [unclosed\n",
        ["edgedistill.yaml", "not valid YAML at line"],
    ),
    "config that is a list": (lambda root, cfg: "- teacher\n- data\n", ["edgedistill.yaml", "must be a YAML mapping"]),
    "hints with assistants": (
        lambda root, cfg: cfg["distillation"].update(
            hints=[{"teacher": "layer2", "student": "features.1"}], assistants=[{"name": "dscnn"}]
        ),
        ["distillation", "cannot be combined with assistants"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_in_one_line(case, tmp_path, digits_npz, digits_teacher):
    mutate, needles = CASES[case]
    cfg = tiny_config(digits_npz, digits_teacher)
    text = mutate(tmp_path, cfg)  # a case may give the whole config text instead
    path = write_config(tmp_path, cfg)
    if isinstance(text, str):
        path.write_text(text)
    proc = run_cli("build", cwd=tmp_path)
    assert_one_line_failure(proc, *needles)
    assert_nothing_built(tmp_path)


def test_checkpoint_of_another_architecture_is_refused(tmp_path, digits_npz, digits_teacher):
    cfg = tiny_config(digits_npz, digits_teacher)
    cfg["teacher"]["kwargs"] = {**cfg["teacher"]["kwargs"], "base": 32}
    write_config(tmp_path, cfg)
    assert_one_line_failure(run_cli("build", cwd=tmp_path), "teacher.pt", "does not fit the model architecture")
    assert_nothing_built(tmp_path)


def test_unknown_target_flag(tmp_path, digits_npz, digits_teacher):
    write_config(tmp_path, tiny_config(digits_npz, digits_teacher))
    assert_one_line_failure(
        run_cli("build", "--target", "toaster", cwd=tmp_path), "--target", "unknown target 'toaster'", "rpi4"
    )
    assert_nothing_built(tmp_path)


def test_failed_rebuild_keeps_the_previous_build(project_copy):
    before = {p.name: p.read_bytes() for p in (project_copy / "build" / "rpi4").iterdir()}
    cfg_path = project_copy / "edgedistill.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["teacher"]["checkpoint"] = str(project_copy / "missing.pt")
    cfg_path.write_text(yaml.safe_dump(cfg))
    assert_one_line_failure(run_cli("build", cwd=project_copy), "missing.pt")
    after = {p.name: p.read_bytes() for p in (project_copy / "build" / "rpi4").iterdir()}
    assert after == before


def test_init_writes_a_config_equal_to_the_embedded_default(tmp_path):
    proc = run_cli("init", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    written = load_config(tmp_path / "edgedistill.yaml")
    assert written == default_config()
    assert "#" in (tmp_path / "edgedistill.yaml").read_text()  # commented for people
    assert_one_line_failure(run_cli("init", cwd=tmp_path), "already exists")


def test_listing_commands(tmp_path):
    students = run_cli("students", "--input-size", "32", "--channels", "3", cwd=tmp_path)
    assert students.returncode == 0, students.stderr
    rows = {line.split()[0]: line.split() for line in students.stdout.splitlines()[1:]}
    assert {"dscnn", "mobilenetv2", "resnet8"} <= set(rows)
    from edgedistill.students import build_student
    from edgedistill.students.profile import profile_model

    expected = profile_model(build_student("resnet8", num_classes=10, in_channels=3, input_size=32), (3, 32, 32))
    assert rows["resnet8"][1:3] == [f"{expected.params:,}", f"{expected.macs:,}"]
    devices = run_cli("devices", cwd=tmp_path)
    assert devices.returncode == 0 and "rpi4" in devices.stdout and "Cortex-A72" in devices.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--device", "adb:"], "needs a serial"),
        (["--target", "pixel-7", "--device", "adb:emulator-5554"], "needs --benchmark-model PATH"),
    ],
)
def test_bad_device_options_fail_before_any_work(tmp_path, digits_npz, digits_teacher, args, needle):
    write_config(tmp_path, tiny_config(digits_npz, digits_teacher))
    assert_one_line_failure(run_cli("build", *args, cwd=tmp_path), needle)
    assert not (tmp_path / ".edgedistill-cache").exists()
    assert_nothing_built(tmp_path)


def test_truncated_tflite_given_to_bench_is_one_line(built_project, tmp_path):
    whole = (built_project.out / "model_int8.tflite").read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(whole[: len(whole) // 3])
    line = assert_one_line_failure(
        run_cli("bench", str(cut), "--runs", "2", cwd=tmp_path), "cut.tflite", "not a valid TFLite model"
    )
    assert line.startswith("error: ")


def mount_tmpfs(where: Path, size: str) -> Path:
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    where.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    ).returncode:
        pytest.skip("this machine does not allow mounting a tmpfs")
    return where


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 KiB tmpfs: a full disk, for real (root only)."""
    import subprocess

    yield mount_tmpfs(tmp_path / "full", "64k")
    subprocess.run(["umount", str(tmp_path / "full")], check=True)


@pytest.fixture
def nearly_full_cache(tmp_path, project_copy):
    """A cache on a 1 MiB tmpfs that already holds the project's decoded stores, filled up to 16 KiB short."""
    import shutil
    import subprocess

    cache = mount_tmpfs(tmp_path / "cache", "1m")
    shutil.copytree(project_copy / ".edgedistill-cache" / "data", cache / "data")
    free = shutil.disk_usage(cache).free
    (cache / "filler").write_bytes(b"\0" * max(0, free - (16 << 10)))
    yield cache
    subprocess.run(["umount", str(cache)], check=True)


def test_full_disk_while_writing_the_build_is_one_line_and_keeps_the_old_build(project_copy, small_tmpfs):
    out = small_tmpfs / "build"
    (out / "rpi4").mkdir(parents=True)
    (out / "rpi4" / "model_int8.tflite").write_bytes(b"the previous build")
    proc = run_cli("build", "--target", "rpi4", "--out", str(out), "--quiet", cwd=project_copy)  # every stage cached
    assert_one_line_failure(proc, str(out / "rpi4"), "cannot write the build", "No space left on device")
    assert sorted(p.name for p in out.iterdir()) == ["rpi4"]  # no staging folder left behind
    assert [p.name for p in (out / "rpi4").iterdir()] == ["model_int8.tflite"]
    assert (out / "rpi4" / "model_int8.tflite").read_bytes() == b"the previous build"


def test_full_disk_while_decoding_the_data_is_one_line_and_leaves_no_partial_store(project_copy, small_tmpfs):
    shipped = project_copy / "build" / "rpi4"
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    proc = run_cli("build", "--target", "rpi4", "--cache", str(small_tmpfs / "cache"), "--quiet", cwd=project_copy)
    assert_one_line_failure(proc, "cannot write the decoded image store", "No space left on device")
    assert list((small_tmpfs / "cache" / "data").iterdir()) == []  # no half-written store
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before  # the last good build is untouched


def test_full_disk_under_the_stage_cache_is_one_line(project_copy, nearly_full_cache):
    shipped = project_copy / "build" / "rpi4"
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    proc = run_cli("build", "--target", "rpi4", "--cache", str(nearly_full_cache), "--quiet", cwd=project_copy)
    assert_one_line_failure(proc, "cannot write the stage cache", "No space left on device")
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before
