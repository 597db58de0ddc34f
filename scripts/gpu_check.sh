#!/usr/bin/env bash
# The GPU checks, as one run on a machine with a CUDA device: the `gpu`-marked tests (every
# family through every stage on CUDA, the captured / compiled / TF32 / bfloat16 steps against the
# eager one, resume with a graph) and `python -m benchmarks --only gpu` (the step against the
# naive reference, one seed to grokking graphed and compiled, 128 seeds in seed-steps per second).
#
#   bash scripts/gpu_check.sh --fetch-wheels   # here, with pip and an index: the packages a bare
#                                              # GPU image lacks, as Python 3.12 wheels in .whl/
#   bash scripts/gpu_check.sh [OUT_DIR]        # there: install .whl/ (if any) beside its torch, run
#
# Logs and the benchmark's JSON go to OUT_DIR (default $OUT, else ./gpu-check). Each part has its
# own time limit, so the whole run ends within about nine minutes.
set -uo pipefail
cd "$(dirname "$0")/.."

# what the package and TransformerLens import that a CUDA image with torch, numpy, pandas,
# einops, jaxtyping, safetensors, matplotlib, tqdm and transformers does not hold
WHEELS="transformer-lens==4.3.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 circuitsvis==1.43.3
        beartype==0.23.1 typeguard==4.6.1 fancy-einsum==0.0.3"

if [ "${1:-}" = "--fetch-wheels" ]; then
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
    # shellcheck disable=SC2086
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform any -d .whl $WHEELS
    ls .whl
    exit
fi

out="${1:-${OUT:-./gpu-check}}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        || exit 1
    export PYTHONPATH="/tmp/site:$PWD"
else
    export PYTHONPATH="$PWD"
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"; } 2>&1 | tee "$out/machine.txt"
timeout 330 python3 -m pytest -q -p no:cacheprovider -m gpu -o addopts="-ra --strict-markers" tests/ 2>&1 \
    | tee "$out/gpu-tests.log"
timeout 210 python3 -m benchmarks --only gpu --json "$out/bench-gpu.json" 2>&1 | tee "$out/bench-gpu.log"
