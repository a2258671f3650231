#!/usr/bin/env bash
# The GPU checks in one go, sized for a short lease (about 7-8 minutes on an H200), most wanted
# first: the default training (1000 steps at 512 px) timed through the API, the stylize stage at
# 1080p (eager, and the product's torch.compile runtime at three precisions and layouts), 1080p
# end to end without grading (the stage table shows whether the stages overlap), the product on
# the bundled sample with the GPU defaults, 1080p end to end under --runtime compile, the training
# loop against the straightforward one, and the tests that need CUDA. Figures go to stdout; the sample's output and
# preview and the trained model's frame to $OUT (default: ./gpu-out). PyAV is installed from
# wheels in .whl/ when the machine lacks it (machines without package registries).
#
#     bash benchmarks/gpu_session.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD:$PWD/benchmarks:${PYTHONPATH:-}"
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
T0=$(date +%s)
stamp() { echo "=== [$(( $(date +%s) - T0 )) s] $*"; }
if ! python3 -c "import av" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 3
    export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
nvidia-smi -L
python3 -c "import sys, torch, av; print(sys.version.split()[0], torch.__version__, av.__version__, torch.cuda.get_device_name())" || exit 3
work=$(mktemp -d)
stamp "the default GPU training (1000 steps at 512 px) through the API"
timeout 90 python3 benchmarks/train_gpu_time.py --device cuda --rounds 2 --out "$OUT" 2>&1 | grep -v Warning
stamp "the stylize stage at 1920x1080"
timeout 150 python3 benchmarks/stylize_gpu.py --size 1920x1080 --batches 4 --precisions fp32 --layouts nchw \
    --compile-variants fp32:nchw,fp16:channels-last,bf16:channels-last 2>&1 | grep -v Warning
stamp "1920x1080 end to end (every frame, no grading)"
timeout 120 python3 benchmarks/speed.py --device cuda --sizes 1920x1080 --frames 96 --no-peer --policies every \
    --no-eval --full-res-frames 0 --work "$work/speed" 2>&1 | grep -v Warning
stamp "the sample, GPU defaults"
cp samples/clip.mp4 "$work/"
( time timeout 100 python3 -m vidstyle "$work/clip.mp4" --style samples/starry_night.jpg -q ) 2>&1 | tail -5
cp "$work"/clip_styled.mp4 "$work"/clip_styled_preview.png "$OUT"/ 2>/dev/null
stamp "1920x1080 end to end under --runtime compile (250 frames: the compile's set-up included)"
timeout 150 python3 benchmarks/speed.py --device cuda --sizes 1920x1080 --frames 250 --no-peer --policies every \
    --no-eval --no-stages --full-res-frames 0 --runtime compile --work "$work/speed-compile" 2>&1 | grep -v Warning
stamp "training loop"
timeout 40 python3 benchmarks/train_speed.py --device cuda --steps 20 --rounds 2 --curve-steps 0 2>&1 | grep -v Warning
stamp "the CUDA tests (training loop, the stabilizer on its own stream)"
timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_train.py tests/test_stabilize.py 2>&1 | tail -3
stamp done
rm -rf "$work"
