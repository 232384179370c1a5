"""A person-readable table of one benchmark result (the runner's JSON schema)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _ms(value) -> str:
    return "-" if value is None else f"{value:.3f} ms"


def print_bench(r: dict, console: Console) -> None:
    table = Table(
        title=f"{r['model']} on {r.get('device', 'local')} ({r.get('target', '')}, {r.get('machine') or 'device'})",
        show_header=False,
    )
    table.add_column("what")
    table.add_column("value", justify="right")
    lat = r["latency_ms"]
    rows = [
        ("runtime", f"{r['runtime']} {r.get('runtime_version') or ''}".strip()),
        ("threads / XNNPACK", f"{r['threads']} / {'yes' if r['xnnpack'] else 'no' if r['xnnpack'] is False else '?'}"),
        ("load + init", _ms(r["init_ms"])),
        ("first inference", _ms(r["first_inference_ms"])),
        (f"warm-up mean ({r['warmup_runs']} runs)", _ms(r["warmup_mean_ms"])),
        (f"timed runs ({r['runs']} x {r.get('rounds', 1)})", ""),
        ("  min / p50", f"{_ms(lat['min'])} / {_ms(lat['p50'])}"),
        ("  p90 / p99", f"{_ms(lat['p90'])} / {_ms(lat['p99'])}"),
        ("  mean ± std", f"{_ms(lat['mean'])} ± {_ms(lat['std'])}"),
        ("peak RSS", "-" if r["peak_rss_kb"] is None else f"{r['peak_rss_kb'] / 1024:.1f} MB"),
    ]
    if len(r.get("round_medians_ms") or []) > 1:
        rows.append(("per-round medians", ", ".join(f"{m:.3f}" for m in r["round_medians_ms"]) + " ms"))
    for row in rows:
        table.add_row(*row)
    console.print(table)
