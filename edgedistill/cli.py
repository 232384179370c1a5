"""The `edgedistill` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console

from edgedistill import __version__
from edgedistill.errors import EdgeDistillError, one_line
from edgedistill.pipeline.config import CONFIG_FILENAME, EXAMPLE_CONFIG, ProjectConfig, default_config, load_config


def _resolve_config(config_path: Path | None) -> tuple[ProjectConfig, Path]:
    """The config named by --config, else ./edgedistill.yaml, else the embedded example; and its folder."""
    if config_path is not None:
        return load_config(config_path), config_path.resolve().parent
    local = Path.cwd() / CONFIG_FILENAME
    if local.is_file():
        return load_config(local), Path.cwd()
    return default_config(), Path.cwd()


NATIVE_LOG = "logs/native.log"  # in the stage cache: what C++ libraries print while a build or sweep runs


def _native_log(cache_dir: Path, command: str):
    """For a whole build or sweep, fd 2 goes to the cache's log: the console keeps its own duplicate."""
    from edgedistill.export.native_logs import stderr_to

    return stderr_to(cache_dir / NATIVE_LOG, header=f"edgedistill {command}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgedistill")
def cli() -> None:
    """Distil a PyTorch teacher into a small int8 student for an edge device, verified and measured."""


@cli.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"project config (default: ./{CONFIG_FILENAME}, else the bundled example)",
)
@click.option("--target", help="device profile to build for (default: the config's first target)")
@click.option(
    "--out",
    "out_root",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("build"),
    show_default=True,
    help="output folder; the build goes to OUT/<target>/",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="stage cache (default: .edgedistill-cache beside the config)",
)
@click.option("--quiet", is_flag=True, help="no progress bars and no summary table")
@click.option("--json", "as_json", is_flag=True, help="print report.json on stdout")
@click.option("--device", help="also measure the TFLite models on this device: an SSH destination or adb:SERIAL")
@click.option(
    "--ssh-config", type=click.Path(path_type=Path, dir_okay=False), help="ssh -F config file (default: ~/.ssh/config)"
)
@click.option(
    "--device-python", default="python3", show_default=True, help="Python on the device that has a TFLite runtime"
)
@click.option(
    "--benchmark-model",
    "benchmark_model",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TFLite benchmark_model binary (phone profiles)",
)
@click.option(
    "--nproc",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="train in this many processes on this machine (torch.distributed: gloo on CPU, NCCL on CUDA, one GPU each)",
)
@click.option(
    "--budget",
    help="build the most accurate student within these limits, e.g. latency=15ms,size=1MB,ram=64MB (any subset)",
)
@click.option(
    "--calibration",
    type=click.Path(path_type=Path, dir_okay=False),
    help="latency calibration for the models table's estimates and --budget candidates (default: the target's, from `edgedistill calibrate`)",
)
def build(
    config_path: Path | None,
    target: str | None,
    out_root: Path,
    cache_dir: Path | None,
    quiet: bool,
    as_json: bool,
    device: str | None,
    ssh_config: Path | None,
    device_python: str,
    benchmark_model: Path | None,
    nproc: int,
    budget: str | None,
    calibration: Path | None,
) -> None:
    """Distil, prune, export (ONNX and TFLite, fp32 to int8), verify, benchmark and report (JSON and HTML)."""
    from edgedistill.pipeline.device_benchmark import DeviceSpec, resolve_target
    from edgedistill.progress import Progress, stderr_console

    config, base = _resolve_config(config_path)
    target = target or config.targets[0]
    spec = DeviceSpec(device, ssh_config, device_python, benchmark_model) if device else None
    resolve_target(target, spec)  # a bad --target or --device fails here, before the cache folder is made
    if calibration is not None:  # a missing or malformed file given by name fails here, before any work
        from edgedistill.benchmarks.latency.predictor import load_calibration

        load_calibration(calibration)
    limits = None
    if budget is not None:
        from edgedistill.pipeline.budget import parse_budget

        limits = parse_budget(budget)  # a bad budget fails here too
        if nproc > 1:
            raise EdgeDistillError("--budget with --nproc: the candidate search runs in one process; drop --nproc")
        if config.data.synthetic is not None:
            raise EdgeDistillError(
                "--budget with data.synthetic: the candidate search trains its proxies on the source's real images; "
                "drop one of them"
            )
        if config.distillation.mode == "mutual" and config.distillation.mutual.peers:
            raise EdgeDistillError(
                "--budget with distillation.mutual.peers: the search costs each candidate alone, and a peer it did not "
                "cost may be the member that ships; drop the peers (each candidate then trains with a copy of itself)"
            )
    cache_dir = cache_dir or base / ".edgedistill-cache"
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        from edgedistill.pipeline.launch import launch

        return launch(nproc, _without_nproc(sys.argv[1:]), cache_dir / "logs" / "ranks")
    from edgedistill.pipeline.distill.world import join_world, leave_world

    world = join_world(config.distillation.device)
    hidden = quiet or not world.is_main  # the ranks > 0 of a distributed build draw nothing
    console = stderr_console(hidden)
    try:
        with _native_log(cache_dir, f"build --target {target} (rank {world.rank} of {world.size})"):
            from edgedistill.pipeline.build import build as run_build
            from edgedistill.pipeline.report.console import print_summary

            progress = Progress(console, enabled=False if hidden else None)
            result = run_build(config, target, out_root, cache_dir, progress, spec, limits, calibration)
    finally:
        leave_world()
    if result is None:  # a training rank > 0: rank 0 reports
        return
    if as_json:
        click.echo(result.report.model_dump_json(indent=2))
    print_summary(result.report, console)
    files = ", ".join(sorted(result.manifest.files))
    console.print(f"shipped: {result.out_dir}/ ({files}, manifest.json, report.json, report.html)", soft_wrap=True)


def _without_nproc(args: list[str]) -> list[str]:
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def _numbers(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{what}: a comma-separated list of numbers, got {text!r}") from None
    if not values:
        raise click.BadParameter(f"{what}: give at least one value")
    return values


@cli.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"project config (default: ./{CONFIG_FILENAME}, else the bundled example)",
)
@click.option("--temperatures", default="1,2,4,8,16", show_default=True, help="comma-separated temperatures")
@click.option("--alphas", default="0.5,0.9", show_default=True, help="comma-separated weights of the soft-target loss")
@click.option("--epochs", type=click.IntRange(1), help="epochs per point (default: the config's)")
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="stage cache (default: .edgedistill-cache beside the config)",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("sweep.json"),
    show_default=True,
    help="where to write the table",
)
@click.option("--write-best", is_flag=True, help="set the best temperature and alpha in the config file")
@click.option("--quiet", is_flag=True, help="no progress bars")
def sweep(
    config_path: Path | None,
    temperatures: str,
    alphas: str,
    epochs: int | None,
    cache_dir: Path | None,
    json_path: Path,
    write_best: bool,
    quiet: bool,
) -> None:
    """Distil once per temperature x alpha and compare students on the validation split."""
    from edgedistill.fsutil import write_json
    from edgedistill.progress import Progress, stderr_console

    temps, alps = _numbers(temperatures, "--temperatures"), _numbers(alphas, "--alphas")
    if any(t <= 0 for t in temps) or any(not 0 <= a <= 1 for a in alps):
        raise click.BadParameter("temperatures must be > 0 and alphas within 0..1")
    config, base = _resolve_config(config_path)
    if write_best and config_path is None and not (Path.cwd() / CONFIG_FILENAME).is_file():
        raise EdgeDistillError(
            "--write-best: no config file to write to (give --config, or run `edgedistill init` first)"
        )
    if epochs is not None:
        config = config.model_copy(update={"distillation": config.distillation.model_copy(update={"epochs": epochs})})
    cache_dir = cache_dir or base / ".edgedistill-cache"
    console = stderr_console(quiet)
    with _native_log(cache_dir, "sweep"):
        from edgedistill.pipeline.sweep import print_sweep
        from edgedistill.pipeline.sweep import sweep as run_sweep
        from edgedistill.pipeline.sweep import write_best as write_best_to

        result = run_sweep(config, temps, alps, cache_dir, Progress(console, enabled=None if not quiet else False))
    write_json(json_path, result.to_dict())
    print_sweep(result, Console())
    click.echo(f"wrote {json_path}")
    if write_best:
        target = config_path or Path.cwd() / CONFIG_FILENAME
        write_best_to(target, result.best["temperature"], result.best["alpha"])
        click.echo(
            f"set distillation.temperature={result.best['temperature']:g} and alpha={result.best['alpha']:g} in {target}"
        )


@cli.command()
@click.argument("model", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--target", default="rpi4", show_default=True, help="device profile: default threads, runtime and CPU pinning"
)
@click.option(
    "--device",
    default="local",
    show_default=True,
    help="'local', an SSH destination (pi@raspberrypi.local), or adb:SERIAL",
)
@click.option(
    "--ssh-config", type=click.Path(path_type=Path, dir_okay=False), help="ssh -F config file (default: ~/.ssh/config)"
)
@click.option(
    "--device-python",
    default="python3",
    show_default=True,
    help="Python on the device that has a TFLite runtime (e.g. a venv's python)",
)
@click.option("--threads", type=click.IntRange(1), help="inference threads (default: the profile's)")
@click.option("--runs", type=click.IntRange(1), default=100, show_default=True)
@click.option("--warmup", type=click.IntRange(0), default=10, show_default=True)
@click.option(
    "--rounds",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="repeat the timed runs; per-round medians show throttling",
)
@click.option("--pause-ms", type=click.FloatRange(0), default=0.0, show_default=True, help="pause between timed runs")
@click.option("--runtime", type=click.Choice(["auto", "python", "benchmark_model"]), default="auto", show_default=True)
@click.option(
    "--benchmark-model",
    "benchmark_model",
    type=click.Path(path_type=Path, dir_okay=False),
    help="TFLite benchmark_model binary for the device",
)
@click.option(
    "--input",
    "input_npy",
    type=click.Path(path_type=Path, dir_okay=False),
    help=".npy input; the model's outputs are returned",
)
@click.option(
    "--timeout",
    type=click.FloatRange(1),
    default=600,
    show_default=True,
    help="seconds before a device run is abandoned",
)
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
@click.option("--quiet", is_flag=True, help="no progress display")
def bench(
    model: Path,
    target: str,
    device: str,
    ssh_config: Path | None,
    device_python: str,
    threads: int | None,
    runs: int,
    warmup: int,
    rounds: int,
    pause_ms: float,
    runtime: str,
    benchmark_model: Path | None,
    input_npy: Path | None,
    timeout: float,
    as_json: bool,
    quiet: bool,
) -> None:
    """Measure MODEL (.tflite, or .onnx on the host) on a device: init, first inference, latency distribution, peak memory."""
    from edgedistill.benchmarks.harness import run_benchmark, run_benchmark_model
    from edgedistill.benchmarks.report import print_bench
    from edgedistill.devices.connect import open_transport
    from edgedistill.devices.profiles import get_device
    from edgedistill.export.inspect_tflite import check_loadable
    from edgedistill.progress import Progress, stderr_console

    try:
        profile = get_device(target)
    except KeyError as exc:
        raise EdgeDistillError(f"--target: {exc.args[0]}") from None
    check_loadable(model)
    runtime = profile.runtime if runtime == "auto" else runtime
    threads = threads or profile.threads
    progress = Progress(stderr_console(quiet), enabled=None if not quiet else False)
    with (
        open_transport(device, ssh_config=ssh_config, python=device_python) as transport,
        progress.task(
            f"measuring {model.name} on {device}: {warmup} warm-up + {rounds} x {runs} runs, {threads} thread(s)"
        ),
    ):
        if runtime == "benchmark_model":
            if benchmark_model is None:
                raise EdgeDistillError(
                    f"{profile.name}: the benchmark_model runtime needs --benchmark-model PATH (the TFLite binary for the device)"
                )
            result = run_benchmark_model(
                transport,
                model,
                benchmark_model,
                threads=threads,
                runs=runs,
                warmup=warmup,
                cpu_mask=profile.cpu_mask,
                timeout=timeout,
            )
        else:
            result = run_benchmark(
                transport,
                model,
                threads=threads,
                runs=runs,
                warmup=warmup,
                rounds=rounds,
                pause_ms=pause_ms,
                input_npy=input_npy,
                timeout=timeout,
            )
    shown = {**result.model_dump(mode="json"), "device": device, "target": profile.name}
    if as_json:
        click.echo(json.dumps(shown))
    else:
        print_bench(shown, Console())


@cli.command()
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), default=Path(CONFIG_FILENAME))
@click.option("--force", is_flag=True, help="overwrite an existing file")
def init(path: Path, force: bool) -> None:
    """Write a commented example config (the bundled MNIST example)."""
    from edgedistill.fsutil import write_text

    if path.exists() and not force:
        raise EdgeDistillError(f"{path}: already exists (use --force to overwrite)")
    write_text(path, EXAMPLE_CONFIG)
    click.echo(f"wrote {path}; edit it, then run: edgedistill build --config {path}")


@cli.command()
@click.option("--input-size", type=click.IntRange(4, 1024), default=28, show_default=True)
@click.option("--channels", type=click.IntRange(1, 4), default=1, show_default=True)
@click.option("--classes", type=click.IntRange(2), default=10, show_default=True)
@click.option("--width", type=click.FloatRange(0.05, 4), default=1.0, show_default=True, help="width multiplier")
def students(input_size: int, channels: int, classes: int, width: float) -> None:
    """List the registered student architectures with their size for one input shape."""
    from edgedistill.students import STUDENTS, build_student
    from edgedistill.students.profile import profile_model

    click.echo(
        f"{'name':14s} {'params':>10s} {'MACs':>13s}  (input {channels}x{input_size}x{input_size}, {classes} classes, width {width})"
    )
    for name, spec in sorted(STUDENTS.items()):
        model = build_student(name, num_classes=classes, in_channels=channels, input_size=input_size, width=width)
        p = profile_model(model, (channels, input_size, input_size))
        click.echo(f"{name:14s} {p.params:>10,} {p.macs:>13,}  {spec.summary}")


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
def report(folder: Path) -> None:
    """Render FOLDER/report.html again from its report.json and manifest.json (e.g. build/rpi4)."""
    from edgedistill.pipeline.report.html import render_build_folder

    click.echo(f"wrote {render_build_folder(folder)}")


@cli.command()
def devices() -> None:
    """List the device profiles usable as --target."""
    from edgedistill.devices.profiles import DEVICES

    for name, p in sorted(DEVICES.items()):
        click.echo(f"{name:14s} {p.description}: {p.os}/{p.arch}, {p.cpu}, {p.ram_mb} MB, {p.threads} threads")


def _add_latency_commands() -> None:
    from edgedistill.cli_latency import calibrate, estimate

    cli.add_command(calibrate)
    cli.add_command(estimate)


_add_latency_commands()


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except EdgeDistillError as exc:
        from edgedistill.pipeline.launch import report_rank_error

        line = f"error: {one_line(str(exc))}"
        if not report_rank_error(line):  # a rank of `--nproc N` leaves it to the launcher, which prints one
            click.echo(line, err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
