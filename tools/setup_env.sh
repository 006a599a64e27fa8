#!/usr/bin/env bash
# Create or update the project's virtual environment with the pinned stack.
#
# Called by `make setup`. Idempotent: when the pins, setup.py and this script
# are unchanged since the last successful run, it only checks the venv and
# returns. mmcv 2.1.0 has no wheel for torch 2.13, so it is built from source
# once (about 12 min on 2 cores) and the wheel is cached outside the
# repository, in $DFINE_MM_CACHE (default ~/.cache/dfine_mm).
#
# Environment: PYTHON (default python3.11), VENV (default .venv),
# DFINE_MM_CACHE, MAX_JOBS (mmcv build parallelism, default: all cores),
# PIP_ATTEMPTS and PIP_RETRY_WAIT (how often and how far apart a failed pip
# install is run again; default 3 and 15 s).
set -euo pipefail

PYTHON=${PYTHON:-python3.11}
VENV=${VENV:-.venv}
CACHE=${DFINE_MM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dfine_mm}
TORCH_VERSION=2.13.0
MMCV_VERSION=2.1.0

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
# need_space DIR MIB WHAT: stop before WHAT when DIR's file system has less
# than MIB MiB free. A full disk does not always say so later: the CI run
# that failed on a nearly full disk (213 MiB free) showed pip's downloads
# as broken connections ("error: incomplete-download").
need_space() {
    local dir=$1 free
    while [ ! -d "$dir" ]; do dir=$(dirname "$dir"); done
    free=$(df -Pk "$dir" 2>/dev/null | awk 'NR == 2 { print int($4 / 1024) }')
    [ -z "$free" ] || [ "$free" -ge "$2" ] || die "$3 needs about $2 MiB \
free on the file system of $dir, which has $free MiB. Free some space (old \
clones and their .venv, /tmp/pytest-of-$(id -un)) or point VENV, \
DFINE_MM_CACHE or TMPDIR at a disk with room."
}

# 1. Python 3.11 -----------------------------------------------------------
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    die "Python 3.11 was not found as '$PYTHON'. Install Python 3.11 \
(e.g. 'pyenv install 3.11' or your distribution's python3.11 package) or \
point the Makefile at it: make setup PYTHON=/path/to/python3.11"
fi
py_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$py_version" != "3.11" ]; then
    die "'$PYTHON' is Python $py_version; dfine_mm's stack is pinned for \
Python 3.11. Run: make setup PYTHON=/path/to/python3.11"
fi

# 2. Up to date? -------------------------------------------------------------
stamp_file="$VENV/.dfine_mm_setup"
stamp=$(cat requirements/*.txt setup.py tools/setup_env.sh \
    | sha256sum | cut -c1-16)
if [ -x "$VENV/bin/python" ] && [ -f "$stamp_file" ] \
    && [ "$(cat "$stamp_file")" = "$stamp" ] \
    && "$VENV/bin/python" -c 'import dfine_mm' >/dev/null 2>&1; then
    say "environment $VENV is up to date"
    exit 0
fi

# 3. The virtual environment -------------------------------------------------
# A new venv takes 2.2 GB and pip unpacks the wheels in TMPDIR first; an
# update of a venv that was set up before adds little.
if [ -f "$stamp_file" ]; then venv_mib=1000; else venv_mib=4000; fi
need_space "$VENV" "$venv_mib" "the pinned stack in $VENV"
need_space "${TMPDIR:-/tmp}" 1000 "pip's downloads"
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
venv_version=$("$VENV/bin/python" -c \
    'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$venv_version" = "3.11" ] || die "$VENV holds Python $venv_version; \
remove it (rm -rf $VENV) and run make setup again"

# 4. The mmcv wheel, built once per (mmcv, torch, python, arch) ------------
arch=$(uname -m)
wheel_dir="$CACHE/mmcv-${MMCV_VERSION}_torch-${TORCH_VERSION}_cp311_${arch}"
wheel=$(ls "$wheel_dir"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1 \
    || true)
if [ -z "$wheel" ]; then
    say "building mmcv $MMCV_VERSION with ops against torch $TORCH_VERSION"
    say "(once per machine, about 12 min on 2 cores; cached in $wheel_dir)"
    build_venv="$CACHE/build-venv_torch-${TORCH_VERSION}"
    log="$CACHE/mmcv-${MMCV_VERSION}_build.log"
    need_space "$CACHE" 3000 "the mmcv build"
    mkdir -p "$CACHE"
    # mmcv's setup.py imports pkg_resources (setuptools < 70), while torch
    # 2.13 declares setuptools >= 77: build in a separate environment that
    # holds torch without its dependency on setuptools.
    {
        [ -x "$build_venv/bin/python" ] || "$PYTHON" -m venv "$build_venv"
        "$build_venv/bin/pip" install --no-deps "torch==$TORCH_VERSION"
        "$build_venv/bin/pip" install filelock 'typing-extensions>=4.10' \
            sympy networkx jinja2 fsspec 'numpy<2' 'setuptools<70' wheel \
            ninja packaging
        rm -rf "$wheel_dir.partial"
        MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
            "$build_venv/bin/pip" wheel --no-deps --no-build-isolation \
            -w "$wheel_dir.partial" "mmcv==$MMCV_VERSION" -v
    } >"$log" 2>&1 || {
        tail -n 40 "$log" >&2
        die "building mmcv $MMCV_VERSION failed (last lines above; full \
log: $log). It needs gcc/g++ and the Python 3.11 headers."
    }
    rm -rf "$wheel_dir"
    mv "$wheel_dir.partial" "$wheel_dir"
    wheel=$(ls "$wheel_dir"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1)
    say "mmcv wheel cached: $wheel"
fi

# 5. The pinned stack, mmcv, and dfine_mm in editable mode -------------------
# Most of the stack comes from PyPI, where a connection dropped half-way
# through a large wheel (openvino is 59 MB) would otherwise fail the whole
# set-up: pip resumes each download up to 20 times, and a failed install is
# run again (PIP_ATTEMPTS times, PIP_RETRY_WAIT seconds apart; pip reuses
# what it already installed). New connections keep pip's default retries, so
# a machine without PyPI fails within about a minute.
PIP_ATTEMPTS=${PIP_ATTEMPTS:-3}
PIP_RETRY_WAIT=${PIP_RETRY_WAIT:-15}
case "$PIP_ATTEMPTS$PIP_RETRY_WAIT" in
    '' | *[!0-9]*) die "PIP_ATTEMPTS ('$PIP_ATTEMPTS') and PIP_RETRY_WAIT \
('$PIP_RETRY_WAIT') must be whole numbers, e.g. PIP_ATTEMPTS=3" ;;
esac
exec 3>&1
pip_install() {
    local attempt=1 resume=() usage
    # --resume-retries is pip >= 25.1; a new venv starts with an older pip
    usage=$("$VENV/bin/pip" install --help 2>/dev/null || true)
    case "$usage" in *--resume-retries*) resume=(--resume-retries 20) ;; esac
    until "$VENV/bin/pip" install "${resume[@]}" "$@"; do
        [ "$attempt" -lt "$PIP_ATTEMPTS" ] || return 1
        say "pip install $* failed (attempt $attempt of $PIP_ATTEMPTS);" \
            "trying again in ${PIP_RETRY_WAIT} s" | tee /dev/fd/3
        sleep "$PIP_RETRY_WAIT"
        attempt=$((attempt + 1))
    done
}
say "installing the pinned stack into $VENV"
install_log="$VENV/setup_install.log"
{
    # chained: `set -e` does not act inside a block followed by `||`
    pip_install --upgrade 'pip>=25.1' wheel \
        && pip_install -r requirements/stack.txt "$wheel" \
        && pip_install --no-build-isolation -e '.[tests,deploy]'
} >"$install_log" 2>&1 || {
    tail -n 30 "$install_log" >&2
    die "pip install failed (last lines above; full log: $install_log)"
}
"$VENV/bin/python" -c 'import dfine_mm' \
    || die "dfine_mm does not import in $VENV (see the error above)"
echo "$stamp" >"$stamp_file"
say "done: $("$VENV/bin/python" -c 'import dfine_mm; print(dfine_mm.__version__)') \
in $VENV"
