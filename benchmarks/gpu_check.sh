#!/usr/bin/env bash
# The accelerator check: the bundled example built on the GPU at fp32, bf16 and fp16 (and with --nproc 2 over NCCL
# where two GPUs exist), each student checked against the CPU build's accuracy, images/s beside the CPU's.
#
#   benchmarks/gpu_check.sh [--device cuda|cuda:N|mps] [--work DIR] [--json FILE] [more options: --help]
#
# Runs in the project's .venv (make setup). On a machine without a GPU it builds the CPU reference, then says
# plainly that there is no GPU here and exits 0. Exit 1: a student outside the tolerance; other codes: a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
args=("$@")
case " $* " in *" --device "*|*" --device="*) ;; *) args=(--device cuda "${args[@]}") ;; esac
case " $* " in *" --work "*|*" --work="*) ;; *) args+=(--work "${TMPDIR:-/tmp}/edgedistill-gpu-check") ;; esac
exec "$PY" -m edgedistill.benchmarks.suites.gpu_check "${args[@]}"
