#!/usr/bin/env bash
# `make setup-device`: the checkout's .venv made right for this machine, so `make gpu-check`,
# `make engine`, `make run CAMERA=csi://0` and `emotion-edge doctor` work from the checkout.
#
#   Jetson (/etc/nv_tegra_release): .venv with the system's site-packages (JetPack's TensorRT and its
#       OpenCV with GStreamer), numpy<2 (what they are built against), pycuda built here against
#       JetPack's CUDA (nvcc from /usr/local/cuda/bin on the PATH), the pip OpenCV removed where the
#       system's has GStreamer.
#   Raspberry Pi (/proc/device-tree/model): system site-packages (apt's picamera2 and OpenCV), numpy<2.
#   Any other Linux: a plain .venv.
# Everywhere: ONNX Runtime from PyPI only when no onnxruntime module imports already (a Jetson
# build of onnxruntime-gpu, or a system one, is kept: only one may be installed).
# Settings (environment): PLATFORM=jetson|pi|linux (default: detected), PY (default python3),
# VENV (default .venv), CUDA_HOME (default /usr/local/cuda). Running it again is fine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"
VENV="${VENV:-.venv}"
CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"

say() { echo "setup-device: $*"; }
warn() { echo "setup-device: warning: $*" >&2; }
die() {
    echo "setup-device: error: $*" >&2
    exit 1
}

detect_platform() {
    if [ -e /etc/nv_tegra_release ]; then
        echo jetson
    elif grep -qs "Raspberry Pi" /proc/device-tree/model; then
        echo pi
    else
        echo linux
    fi
}
PLATFORM="${PLATFORM:-$(detect_platform)}"
case "$PLATFORM" in
jetson) say "platform: Jetson ($(head -n 1 /etc/nv_tegra_release 2>/dev/null | cut -c1-60 || echo 'L4T release unknown'))" ;;
# (2>/dev/null before the <: a failing input redirection is reported before any later one applies)
pi) say "platform: Raspberry Pi ($(tr -d '\0' 2>/dev/null </proc/device-tree/model || echo unknown))" ;;
linux) say "platform: Linux ($(uname -m))" ;;
*) die "PLATFORM=$PLATFORM: use jetson, pi or linux" ;;
esac

command -v "$PY" >/dev/null || die "$PY not found: install Python 3.10 or newer"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "$PY is $("$PY" -V 2>&1); emotion-edge needs 3.10+"
"$PY" -c 'import ensurepip, venv' 2>/dev/null || die "$PY cannot make virtual environments: sudo apt install python3-venv"

want_system=false
[ "$PLATFORM" = linux ] || want_system=true
if [ -f "$VENV/pyvenv.cfg" ] && ! grep -qx "include-system-site-packages = $want_system" "$VENV/pyvenv.cfg"; then
    say "recreating $VENV (system site-packages: $want_system)"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    if [ "$want_system" = true ]; then "$PY" -m venv --system-site-packages "$VENV"; else "$PY" -m venv "$VENV"; fi
    say "created $VENV"
fi
pip=("$VENV/bin/pip" install --disable-pip-version-check)
constraints=()
if [ "$want_system" = true ]; then
    # JetPack's TensorRT and OpenCV, and apt's picamera2, are built against NumPy 1.x. OpenCV's wheels
    # from 4.12 on need NumPy 2: without the second line pip downloads seven of them (5.1 down to
    # 4.12, about 40 MB each on a Pi) before it settles on 4.11 (seen under make arm64-check).
    printf 'numpy<2\nopencv-python-headless<4.12\n' >"$VENV/constraints.txt"
    constraints=(-c "$VENV/constraints.txt")
fi

extras="demo"
if "$VENV/bin/python" -c 'import onnxruntime' 2>/dev/null; then
    say "keeping the installed ONNX Runtime: $("$VENV/bin/python" -c 'import onnxruntime as o; print(o.__version__, o.get_available_providers())')"
else
    extras="onnxruntime,$extras"
fi
if [ "$PLATFORM" = jetson ]; then
    extras="jetson,$extras" # pycuda: no aarch64 wheel, it compiles here against JetPack's CUDA
    [ -x "$CUDA_HOME/bin/nvcc" ] || die "$CUDA_HOME/bin/nvcc not found: pycuda builds against JetPack's CUDA (sudo apt install nvidia-jetpack; or CUDA_HOME=...)"
    export PATH="$CUDA_HOME/bin:$PATH" CUDA_ROOT="$CUDA_HOME"
    "$PY" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' ||
        die "Python's headers are missing (pycuda compiles): sudo apt install python3-dev build-essential"
fi
say "installing the device package with [$extras] (pycuda takes a few minutes to compile on a Jetson)"
"${pip[@]}" "${constraints[@]}" -e ".[$extras]" || die "pip could not install the device package (above: why)"

if [ "$PLATFORM" != linux ]; then
    # The system's OpenCV has GStreamer (csi://) or libcamera glue; the pip wheel would hide it.
    if PYTHONNOUSERSITE=1 /usr/bin/python3 -c 'import cv2, sys; sys.exit("GStreamer:                   YES" not in cv2.getBuildInformation())' 2>/dev/null; then
        "$VENV/bin/pip" uninstall --quiet --yes opencv-python-headless opencv-python 2>/dev/null || true
        say "using the system's OpenCV (with GStreamer)"
    elif [ "$PLATFORM" = jetson ]; then
        warn "the system OpenCV has no GStreamer: csi:// cameras will not open (USB cameras will)"
    fi
fi
if [ "$PLATFORM" = jetson ]; then
    "$VENV/bin/python" -c 'import tensorrt; print("setup-device: TensorRT", tensorrt.__version__)' ||
        warn "TensorRT does not import: sudo apt install nvidia-jetpack (python3-libnvinfer)"
    "$VENV/bin/python" -c 'import pycuda.driver as c; c.init(); print("setup-device: CUDA:", c.Device(0).name())' ||
        warn "pycuda cannot initialise CUDA (above: why)"
fi
if [ "$PLATFORM" = pi ]; then
    "$VENV/bin/python" -c 'import picamera2' 2>/dev/null || warn "picamera2 is missing: sudo apt install python3-picamera2"
fi
touch "$VENV/.demo-installed"
say "done. Next: $VENV/bin/emotion-edge doctor ; make gpu-check (Jetson) ; make run CAMERA=..."
