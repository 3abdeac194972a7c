#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py says what it measures): within 5 minutes on a GPU, with torch, torchvision,
# timm and numpy alone. Wheels a machine lacks travel in .whl/ beside this tree and are installed here first.
#   [PYTHON=.venv/bin/python] benchmarks/gpu_check.sh [--device cuda|cpu] [--quick] [--steps N] [--models cnn,...] [--compile auto|on|off] [--out FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"  # the interpreter to run (a virtual environment need not be activated)
if compgen -G ".whl/*.whl" > /dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu_check_site .whl/*.whl
  export PYTHONPATH="/tmp/gpu_check_site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "$PYTHON" benchmarks/gpu_check.py "$@"
