#!/usr/bin/env bash
# The GPU checks of the training-throughput work (docs/benchmarks.md, "GPU"):
# D-FINE S and L training steps side by side with the original D-FINE code
# (batch 8, 640, fp16 autocast; dfine_mm also with channels-last
# convolutions), dfine_mm's step profile on CUDA, and the fp16 inference
# latency of both; and one fp64 training step on CUDA against the CPU's
# (test_step_gradients.py, with pytest from the prepared wheels).
#
#   tools/misc/gpu_checks.sh prepare   # here, with PyPI reachable
#   tools/misc/gpu_checks.sh run       # on the GPU machine, repository root
#   tools/misc/gpu_checks.sh run versus-s compile-s   # named checks only
#   tools/misc/gpu_checks.sh run gpu cuda-step   # CUDA numerics only
#
# `prepare` fills .gpu/ (in .gitignore): wheels of the OpenMMLab stack for
# the GPU machine's Python (GPU_PYTHON_VERSION, default 3.12) that its
# image lacks, mmcv's source with a setuptools that can build it, and the
# original code (DFINE_OFFICIAL_REPO: a git repository of Peterande/D-FINE,
# default the fetched mirror; only src/ and configs/ are kept).
#
# `run` expects a python3 (or $PYTHON) with a CUDA PyTorch, numpy, scipy,
# OpenCV, PyYAML, matplotlib, rich and tqdm (the lent machine's image has
# them). It installs the wheels into /tmp/site (emptied first), builds
# mmcv 2.1.0 against that PyTorch with its CPU ops only (CUDA hidden from
# the build: a training step of D-FINE uses no mmcv kernel), then runs the
# checks within GPU_CHECKS_BUDGET_S seconds (default 570: one call of the
# device tool), each with its own time cap; a check that would start with
# under 40 s left is skipped and logged. Everything goes to
# $OUT/gpu_checks.log (OUT defaults to work_dirs/gpu_checks). On an H200
# (2026-12-04) the build took 103-125 s, each comparison of a training
# step 50-60 s, a latency or profile check about 30 s, the operator list
# 76 s and a compiled S step 190 s: the twelve checks other than cuda-step
# need about 900 s, more than one call's budget, so a run names the checks
# it needs (in the order given; without names all of them in CHECKS'
# order, the budget skipping the last).
set -euo pipefail

GPU_DIR=${GPU_DIR:-.gpu}
PYTHON=${PYTHON:-python3}  # run: the GPU machine's Python with PyTorch
MMCV_VERSION=2.1.0
say() { printf '[gpu_checks] %s\n' "$*"; }
die() { printf '[gpu_checks] ERROR: %s\n' "$*" >&2; exit 1; }

prepare() {
    local py=${GPU_PYTHON_VERSION:-3.12}
    local repo=${DFINE_OFFICIAL_REPO:-/work/.mirror/Peterande+D-FINE/repo}
    local platforms=()
    for tag in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014; do
        platforms+=(--platform "${tag}_x86_64")
    done
    rm -rf "$GPU_DIR" && mkdir -p "$GPU_DIR/wheels" "$GPU_DIR/build"
    # pinned as requirements/stack.txt pins them; setuptools: mmengine's
    # config loader imports pkg_resources (gone from setuptools 81)
    python3 -m pip download -q --no-deps --only-binary=:all: \
        --python-version "$py" --implementation cp "${platforms[@]}" \
        -d "$GPU_DIR/wheels" mmengine==0.10.7 mmdet==3.3.0 \
        pycocotools==2.0.11 setuptools==80.10.2 addict yapf platformdirs \
        termcolor terminaltables shapely six pytest==9.2.0 pluggy iniconfig \
        pygments packaging
    # mmcv's setup.py needs setuptools < 70 (pkg_resources.packaging)
    python3 -m pip download -q --no-deps --only-binary=:all: \
        --python-version "$py" --implementation cp "${platforms[@]}" \
        -d "$GPU_DIR/build" 'setuptools<70'
    # its source: pip runs setup.py for the metadata, which imports
    # pkg_resources, so download from a throwaway venv with such setuptools
    local tmp
    tmp=$(mktemp -d)
    python3 -m venv "$tmp/venv"
    "$tmp/venv/bin/pip" install -q 'setuptools<70' wheel
    "$tmp/venv/bin/pip" download -q --no-deps --no-build-isolation \
        --no-binary=:all: -d "$GPU_DIR/build" "mmcv==$MMCV_VERSION"
    rm -rf "$tmp"
    [ -d "$repo" ] || die "no D-FINE repository at $repo (set \
DFINE_OFFICIAL_REPO to a clone of Peterande/D-FINE)"
    mkdir -p "$GPU_DIR/D-FINE"
    git --git-dir "$repo" archive HEAD src configs \
        | tar -x -C "$GPU_DIR/D-FINE"
    say "ready: $(du -sh "$GPU_DIR" | cut -f1) in $GPU_DIR; on the GPU \
machine run 'tools/misc/gpu_checks.sh run' with .gpu carried"
}

install_stack() {
    rm -rf /tmp/site /tmp/build
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target /tmp/site "$GPU_DIR"/wheels/*.whl
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --target /tmp/build "$GPU_DIR"/build/setuptools-*.whl
    export PYTHONPATH=/tmp/site:$PWD
    say "building mmcv $MMCV_VERSION (CPU ops) against torch \
$("$PYTHON" -c 'import torch; print(torch.__version__)')"
    local start=$SECONDS
    PYTHONPATH=/tmp/build:/tmp/site CUDA_VISIBLE_DEVICES='' FORCE_CUDA=0 \
        MMCV_WITH_OPS=1 MAX_JOBS=$(nproc) \
        "$PYTHON" -m pip install -q --no-index --no-deps --no-build-isolation \
        --no-cache-dir --target /tmp/site \
        "$GPU_DIR"/build/mmcv-"$MMCV_VERSION".tar.gz
    say "mmcv built in $((SECONDS - start)) s"
    "$PYTHON" -c 'import mmcv.ops, mmdet, dfine_mm, torch
assert torch.cuda.is_available(), "no CUDA device visible"
print("stack:", torch.__version__, torch.cuda.get_device_name(0))'
}

# seconds the whole run may take: the device tool's command limit (600 s)
# less a margin, so that the log is complete when the run returns
BUDGET_S=${GPU_CHECKS_BUDGET_S:-570}

# one check, CAP seconds at most (less where the budget has less left):
# its failure or time-out is logged and the next check still runs (each
# minute of a lent GPU counts); `timeout` signals the whole process group,
# the benchmark's worker processes too
check() {
    local cap=$1 left
    shift
    left=$((BUDGET_S - SECONDS))
    if ((left < 40)); then
        say "SKIPPED (${left} s of the budget left): $*"
        return 0
    fi
    ((cap > left - 15)) && cap=$((left - 15))
    say "[$SECONDS s] $* (at most $cap s)"
    timeout -k 5 "$cap" "$@" || say "FAILED or timed out (exit $?): $*"
}

# the checks by name, in the order `run` takes them without names: the
# GPU, one fp64 D-FINE-N training step on CUDA against the CPU's (losses
# and every gradient norm, plain and channels-last: the CUDA paths of
# dfine_mm's own autograd nodes), the training step against the original
# (S, L), the fp16 latency, where S's time goes, then channels-last, the
# step profile and S compiled (its first step compiles; also
# channels-last and compiled: the recipes' format with DFineCompileHook
# added)
CHECKS=(gpu cuda-step versus-s versus-l latency-s latency-l ops-s
    profile-s channels-last-s channels-last-l profile-l compile-s
    channels-last-compile-s)

# one named check with its cap (s)
run_check() {
    local official=$GPU_DIR/D-FINE
    local s=configs/dfine/dfine-s_hgnetv2-b0_4xb8-132e_coco.py
    local l=configs/dfine/dfine-l_hgnetv2-b4_4xb8-80e_coco.py
    local train=("$PYTHON" tools/analysis_tools/benchmark_train.py)
    local latency=("$PYTHON" tools/analysis_tools/benchmark_latency.py)
    local gpu=(--device cuda --threads 8)
    local vs=(--compare-official "$official" "${gpu[@]}" --amp --batch 8)
    local steps=(--runs 10 --warmup 3)
    local profile=(--profile "${gpu[@]}" --amp --batch 8 --runs 5 --warmup 2)
    local fp16=(--deploy --compare-official "$official" "${gpu[@]}" --fp16
        --runs 50 --warmup 10)
    case $1 in
        gpu) check 20 nvidia-smi --query-gpu=name,driver_version,memory.total \
            --format=csv ;;
        cuda-step) check 120 "$PYTHON" -m pytest -q -p no:cacheprovider \
            tests/test_models/test_losses/test_step_gradients.py -k cuda ;;
        versus-s) check 120 "${train[@]}" "$s" "${vs[@]}" "${steps[@]}" ;;
        versus-l) check 150 "${train[@]}" "$l" "${vs[@]}" "${steps[@]}" ;;
        latency-s) check 60 "${latency[@]}" "$s" "${fp16[@]}" ;;
        latency-l) check 60 "${latency[@]}" "$l" "${fp16[@]}" ;;
        ops-s) check 90 "${train[@]}" "$s" "${vs[@]}" --runs 5 --warmup 3 \
            --ops 15 ;;
        profile-s) check 60 "${train[@]}" "$s" "${profile[@]}" ;;
        profile-l) check 60 "${train[@]}" "$l" "${profile[@]}" ;;
        channels-last-s) check 120 "${train[@]}" "$s" "${vs[@]}" \
            "${steps[@]}" --channels-last ;;
        channels-last-l) check 120 "${train[@]}" "$l" "${vs[@]}" \
            "${steps[@]}" --channels-last ;;
        compile-s) check 300 "${train[@]}" "$s" "${vs[@]}" "${steps[@]}" \
            --compile ;;
        channels-last-compile-s) check 300 "${train[@]}" "$s" "${vs[@]}" \
            "${steps[@]}" --channels-last --compile ;;
        *) die "no check named '$1'; the checks: ${CHECKS[*]}" ;;
    esac
}

# refuse a name that is no check before anything is installed, so that a
# misspelt one costs no device time
check_names() {
    local name
    for name in "$@"; do
        [[ " ${CHECKS[*]} " == *" $name "* ]] || die "no check named \
'$name'; the checks: ${CHECKS[*]}"
    done
}

# the named checks in the order given (all of them without names)
run_checks() {
    local name names=("$@")
    ((${#names[@]})) || names=("${CHECKS[@]}")
    for name in "${names[@]}"; do
        run_check "$name"
    done
}

# executed, not sourced (a test sources it to call check)
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    case "${1:-}" in
        prepare) prepare ;;
        run)
            [ -d "$GPU_DIR/wheels" ] || die "$GPU_DIR is missing:" \
                "run 'tools/misc/gpu_checks.sh prepare' here and carry .gpu"
            shift
            check_names "$@"
            out=${OUT:-work_dirs/gpu_checks}
            mkdir -p "$out"
            export PYTHONUNBUFFERED=1  # the log holds what ran before a kill
            { install_stack; run_checks "$@"; say "done at $SECONDS s"; } \
                2>&1 | tee "$out/gpu_checks.log"
            ;;
        *) die "usage: tools/misc/gpu_checks.sh prepare|run [CHECK...]" ;;
    esac
fi
