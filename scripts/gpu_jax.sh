#!/usr/bin/env bash
# Train the workbook's models on a GPU machine that has JAX with CUDA but no TensorFlow and no Jupyter.
#
#   here  (pip reaches PyPI):  make gpu-wheels          # .whl/: keras 3 and its two small dependencies
#   there (this checkout and .whl/ copied over, FER-2013 anywhere on disk):
#         FER2013_PATH=/data/fer2013 bash scripts/gpu_jax.sh [PROFILE] [NOTEBOOK ...]
#
# PROFILE defaults to full; the notebooks default to 02 03 04 (prepare the data, the baseline, the DCNN and our
# model). They run in-process (python -m helpers runner --engine python) on Keras' JAX backend; figures, metrics
# and .keras models land in outputs/ as usual. Bring outputs/ back and `make run-all` on any machine reuses the
# finished training runs (same configuration and data) instead of training again.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-full}"
shift || true
notebooks=("$@")
[ ${#notebooks[@]} -gt 0 ] || notebooks=(02 03 04)
python="${PYTHON:-python3}"
if compgen -G ".whl/*.whl" >/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --target /tmp/fer-site .whl/*.whl
  export PYTHONPATH="/tmp/fer-site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1
"$python" -c 'import jax, keras; print("keras", keras.__version__, "on", keras.backend.backend(), "devices:", jax.devices())'
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || true
"$python" -m helpers runner --engine python --profile "$profile" --only "${notebooks[@]}"
