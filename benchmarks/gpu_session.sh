#!/usr/bin/env bash
# The GPU checks in one go, sized for a short lease (about 5 minutes on an H200): the product on
# the bundled sample with the GPU defaults, the stylize stage at 1080p (layouts, precisions,
# batches, torch.compile), 1080p end to end without grading, and the training loop. Figures go to
# stdout; the sample's output and preview to $OUT (default: ./gpu-out). PyAV is installed from
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
cp samples/clip.mp4 "$work/"
stamp "the sample, GPU defaults"
( time timeout 150 python3 -m vidstyle "$work/clip.mp4" --style samples/starry_night.jpg -q ) 2>&1 | tail -5
cp "$work"/clip_styled.mp4 "$work"/clip_styled_preview.png "$OUT"/ 2>/dev/null
stamp "the stylize stage at 1920x1080"
timeout 120 python3 benchmarks/stylize_gpu.py --size 1920x1080 --batches 4,8 --precisions fp32,fp16 2>&1 | grep -v Warning
stamp "1920x1080 end to end (every frame, no grading)"
timeout 150 python3 benchmarks/speed.py --device cuda --sizes 1920x1080 --frames 96 --no-peer --policies every \
    --no-eval --full-res-frames 0 --work "$work/speed" 2>&1 | grep -v Warning
stamp "training loop"
timeout 90 python3 benchmarks/train_speed.py --device cuda --steps 20 --rounds 2 --curve-steps 0 2>&1 | grep -v Warning
stamp done
rm -rf "$work"
