"""The latency-predictor commands: `edgedistill calibrate` and `edgedistill estimate`."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from edgedistill.errors import EdgeDistillError


@click.command()
@click.option(
    "--device",
    default="local",
    show_default=True,
    help="'local', an SSH destination (pi@raspberrypi.local), or adb:SERIAL",
)
@click.option("--target", default="rpi4", show_default=True, help="device profile: its default threads")
@click.option("--name", help="save the calibration as this device's (default: the target's name)")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="calibration file to write")
@click.option("--ssh-config", type=click.Path(path_type=Path, dir_okay=False), help="ssh -F config file")
@click.option(
    "--device-python", default="python3", show_default=True, help="Python on the device with a TFLite runtime"
)
@click.option("--threads", type=click.IntRange(1), help="inference threads (default: the profile's)")
@click.option(
    "--per-family",
    type=click.IntRange(1),
    default=5,
    show_default=True,
    help="benchmark models per family and dtype (more for the convolution families)",
)
@click.option(
    "--only",
    "families",
    multiple=True,
    help="calibrate only these families (repeatable; a quick, partial calibration): "
    "conv, stem, depthwise, pool_fc, tokens_fc, add, mul, act, se, transpose, pad, concat, slice, softmax, "
    "resize, maxpool",
)
@click.option(
    "--layers",
    type=click.IntRange(0),
    help="real-layer models (student prefixes; networks of MobileNet/EfficientNet, ShuffleNet, ResNet and "
    "MLP-Mixer blocks) per dtype (default: 4 x per-family)",
)
@click.option(
    "--dtype",
    "dtypes",
    type=click.Choice(["int8", "float32"]),
    multiple=True,
    help="calibrate only these dtypes (repeatable; default: both)",
)
@click.option(
    "--refine",
    type=click.IntRange(0),
    default=4,
    show_default=True,
    help="families (per dtype) with the largest fit error that get more models before the final fit",
)
@click.option("--runs", type=click.IntRange(1), default=60, show_default=True, help="timed runs per model")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path(".edgedistill-cache/calibrate"),
    show_default=True,
    help="where the kernel models are built (kept: a second run reuses them)",
)
@click.option("--quiet", is_flag=True, help="no progress display")
def calibrate(
    device: str,
    target: str,
    name: str | None,
    out: Path | None,
    ssh_config: Path | None,
    device_python: str,
    threads: int | None,
    per_family: int,
    families: tuple[str, ...],
    layers: int | None,
    dtypes: tuple[str, ...],
    refine: int,
    runs: int,
    workdir: Path,
    quiet: bool,
) -> None:
    """Measure benchmark models on a device and fit its latency predictor (a calibration file)."""
    from edgedistill.benchmarks.latency.calibrate import calibrate as run_calibration
    from edgedistill.benchmarks.latency.suite import FAMILIES
    from edgedistill.devices.connect import open_transport
    from edgedistill.pipeline.device_benchmark import resolve_target
    from edgedistill.progress import Progress, stderr_console

    profile = resolve_target(target, None)
    threads = threads or profile.threads
    # its own duplicate of stderr: the kernels' conversion sends native logs on fd 2 to a file meanwhile
    progress = Progress(stderr_console(quiet), enabled=None if not quiet else False)
    with open_transport(device, ssh_config=ssh_config, python=device_python) as transport:
        calibration, dest = run_calibration(
            transport,
            name or profile.name,
            device,
            workdir,
            progress,
            threads=threads,
            per_family=per_family,
            families=families or FAMILIES,
            layers=layers,
            dtypes=dtypes or ("int8", "float32"),
            refine=refine,
            runs=runs,
            announce=click.echo,
            out=out,
        )
    fit = calibration.fit
    click.echo(
        f"wrote {dest}: {fit['models']} benchmark models on {calibration.machine}, {calibration.runtime} "
        f"{calibration.runtime_version}, {threads} thread(s); fit error median {fit['median_abs_error']:.1%}, "
        f"max {fit['max_abs_error']:.1%}"
    )
    if calibration.held_out is not None:
        held = calibration.held_out.summary()
        click.echo(
            f"held-out error: median {held['median']:+.1%}, 90% within {held['p90_abs']:.1%}, worst "
            f"{held['worst']:+.1%}; a latency budget is met with a margin of {calibration.held_out.margin():.1%} "
            f"({calibration.held_out.source})"
        )


@click.command()
@click.argument("model", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--target", default="rpi4", show_default=True, help="device profile whose calibration to use")
@click.option(
    "--calibration",
    "calibration_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="calibration file (default: the target's, from `edgedistill calibrate`)",
)
@click.option(
    "--threads", type=click.IntRange(1), help="threads the model will run with (checked against the calibration)"
)
@click.option("--json", "as_json", is_flag=True, help="print the estimate as JSON")
def estimate(model: Path, target: str, calibration_path: Path | None, threads: int | None, as_json: bool) -> None:
    """Estimate MODEL.tflite's latency on a device from its calibration: per kernel and in total."""
    from edgedistill.benchmarks.latency.calibrate import calibration_for
    from edgedistill.benchmarks.latency.estimate import estimate as run_estimate
    from edgedistill.export.inspect_tflite import check_loadable
    from edgedistill.pipeline.device_benchmark import resolve_target
    from edgedistill.progress import table_console

    profile = resolve_target(target, None)
    if model.suffix != ".tflite":
        raise EdgeDistillError(f"{model}: estimates are for .tflite models")
    check_loadable(model)
    calibration, path = calibration_for(profile.name, calibration_path, threads)
    result = run_estimate(model, calibration)
    if as_json:
        click.echo(json.dumps({**result.to_dict(), "calibration": str(path), "device": calibration.device}))
        return
    table = Table(title=f"{model.name}: estimate for {calibration.device} ({calibration.machine})")
    for header in ("#", "kernel", "output", "MMACs", "estimate ms", ""):
        table.add_column(header, justify="left" if header in ("kernel", "") else "right")
    for k in result.kernels:
        shape = "x".join(str(s) for s in k.output_shape)
        table.add_row(str(k.index), k.key, shape, f"{k.mmacs:.2f}", f"{k.ms:.3f}", "" if k.how == "fitted" else k.how)
    table.add_row("", "runtime overhead", "", "", f"{result.overhead_ms:.3f}", "")
    table.add_row("", f"weights from memory ({result.weights_mb:.2f} MB)", "", "", f"{result.weights_ms:.3f}", "")
    console = table_console()
    console.print(table)
    total = (
        f"estimate: {result.total_ms:.2f} ms ({calibration.threads} thread(s), {calibration.runtime} "
        f"{calibration.runtime_version}; calibration {path}, {calibration.date})"
    )
    console.print(total, soft_wrap=True)
    stand_ins = sorted({f"{k.key} ({k.how.removeprefix('not calibrated: ')})" for k in result.uncalibrated})
    console.print(
        f"uncalibrated: {result.uncalibrated_share:.0%} of the estimate"
        + (f" comes from ops with no calibration of their own: {', '.join(stand_ins)}" if stand_ins else ""),
        soft_wrap=True,
    )
