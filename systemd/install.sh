#!/usr/bin/env bash
# Install emotion-edge as a systemd service on this device: `sudo make install-service`.
#
#   /opt/emotion-edge/venv         the device package in its own virtual environment (on a Jetson and
#                                  a Raspberry Pi with the system's site-packages, so JetPack's
#                                  TensorRT, pycuda and GStreamer OpenCV, or apt's picamera2, are used)
#   /opt/emotion-edge/models       the shipped models and the YuNet face detector
#   /etc/emotion-edge/config.toml  the configuration, written from systemd/emotion-edge.toml if absent
#   /etc/emotion-edge/mqtt-password  the MQTT password, root only (created empty if absent)
#   /var/lib/emotion-edge          the service's state: the TensorRT engine cache
#   emotion-edge                   the service user, in the video group
#   /etc/systemd/system/emotion-edge.service, enabled and (re)started
#
# Running it again is fine: the code, models and unit are replaced; the configuration and the
# password are kept. Settings (environment): PLATFORM=jetson|pi|linux (default: detected),
# PYTHON=/usr/bin/python3 (the system's: the service cannot run a Python under /root or /home), MODELS_DIR (default: the checkout's models/), NO_START=1 (install and enable,
# but do not start now).
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX=/opt/emotion-edge
VENV="$PREFIX/venv"
CONF_DIR=/etc/emotion-edge
STATE_DIR=/var/lib/emotion-edge
UNIT_DIR=/etc/systemd/system
USER_NAME=emotion-edge
PYTHON="${PYTHON:-/usr/bin/python3}"
MODELS_DIR="${MODELS_DIR:-$SRC/models}"

say() { echo "install-service: $*"; }
warn() { echo "install-service: warning: $*" >&2; }
die() {
    echo "install-service: error: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "this installs a system service: run it as root (sudo make install-service)"
[ -r /etc/os-release ] || warn "not a usual Linux system (no /etc/os-release); carrying on"

# --- what this machine is ------------------------------------------------------------------------
detect_platform() {
    if [ -e /etc/nv_tegra_release ] || [ -e /sys/module/tegra_fuse ]; then
        echo jetson
    elif grep -qs "Raspberry Pi" /proc/device-tree/model; then
        echo pi
    else
        echo linux
    fi
}
PLATFORM="${PLATFORM:-$(detect_platform)}"
case "$PLATFORM" in jetson | pi | linux) ;; *) die "PLATFORM=$PLATFORM: use jetson, pi or linux" ;; esac
say "platform: $PLATFORM"

command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3.10 or newer (apt install python3)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
    die "$PYTHON is $("$PYTHON" -V 2>&1); emotion-edge needs Python 3.10 or newer"
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null ||
    die "$PYTHON cannot make virtual environments: apt install python3-venv"
# The venv links to this interpreter: the service user must be able to run it, and ProtectHome=
# hides /root and /home from the service (a pyenv or conda Python there would not start).
real_python="$(readlink -f "$(command -v "$PYTHON")")"
case "$real_python" in
/root/* | /home/*) die "$PYTHON is $real_python, which the service cannot reach (ProtectHome=): use the system's Python, sudo make install-service SERVICE_PY=/usr/bin/python3" ;;
esac

# --- models --------------------------------------------------------------------------------------
MODEL=emotion-edge-fp32.onnx
PRECISION=""
[ -f "$MODELS_DIR/$MODEL" ] ||
    die "$MODELS_DIR/$MODEL is missing: it ships with the repository (export one with \`make export\`)"
if [ "$PLATFORM" = jetson ]; then
    if [ -f "$MODELS_DIR/emotion-edge-int8.onnx" ]; then
        MODEL=emotion-edge-int8.onnx # the TensorRT engine is built from it on first start
    else
        warn "models/emotion-edge-int8.onnx is missing (make int8): the engine will be FP16, from the FP32 model"
        PRECISION=fp16
    fi
fi

# --- the service user ----------------------------------------------------------------------------
getent group video >/dev/null || groupadd --system video
if ! id -u "$USER_NAME" >/dev/null 2>&1; then
    nologin="$(command -v nologin || echo /usr/sbin/nologin)"
    useradd --system --user-group --no-create-home --home-dir "$STATE_DIR" --shell "$nologin" \
        --comment "emotion-edge service" "$USER_NAME"
    say "created the system user $USER_NAME"
fi
usermod -a -G video "$USER_NAME"

# --- the virtual environment ---------------------------------------------------------------------
venv_args=()
constraints=()
if [ "$PLATFORM" != linux ]; then
    venv_args+=(--system-site-packages)
    # The system's OpenCV, picamera2 and pycuda are built against NumPy 1.x.
    printf 'numpy<2\n' >"${TMPDIR:-/tmp}/emotion-edge-constraints.txt"
    constraints+=(-c "${TMPDIR:-/tmp}/emotion-edge-constraints.txt")
fi
want_system="false"
if [ "$PLATFORM" != linux ]; then want_system="true"; fi
if [ -f "$VENV/pyvenv.cfg" ]; then
    # Made with other settings, another Python, or a Python that is gone (an OS upgrade): start again.
    if ! grep -qx "include-system-site-packages = $want_system" "$VENV/pyvenv.cfg" ||
        ! grep -qx "home = $(dirname "$(command -v "$PYTHON")")" "$VENV/pyvenv.cfg" ||
        ! "$VENV/bin/python" -c pass 2>/dev/null; then
        say "recreating $VENV (for $PYTHON, system site-packages: $want_system)"
        rm -rf "$VENV"
    fi
fi
if [ ! -x "$VENV/bin/python" ]; then
    install -d -m 0755 "$PREFIX"
    "$PYTHON" -m venv "${venv_args[@]}" "$VENV"
    say "created $VENV"
fi
# Build from a copy, so the checkout gets no build/ folder owned by root.
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
cp -a "$SRC/pyproject.toml" "$SRC/README.md" "$SRC/edge" "$SRC/train" "$SRC/export" "$SRC/emotion_edge" "$build/"
find "$build" -name __pycache__ -prune -exec rm -rf {} +
extras=()
# ONNX Runtime from PyPI only where none imports: a Jetson build of onnxruntime-gpu (or a system
# one) is kept, since only one of them may be installed and PyPI has no aarch64 onnxruntime-gpu.
if "$VENV/bin/python" -c 'import onnxruntime' 2>/dev/null; then
    say "keeping the installed ONNX Runtime ($("$VENV/bin/python" -c 'import onnxruntime as o; print(o.__version__)'))"
else
    extras+=(onnxruntime)
fi
if [ "$PLATFORM" = jetson ]; then
    extras+=(jetson) # pycuda, built here against JetPack's CUDA: nvcc must be on the PATH
    if [ -d /usr/local/cuda/bin ]; then
        export PATH="/usr/local/cuda/bin:$PATH" CUDA_ROOT=/usr/local/cuda
    fi
fi
extra=""
if [ "${#extras[@]}" -gt 0 ]; then extra="[$(IFS=,; echo "${extras[*]}")]"; fi
say "installing the device package into $VENV (pip; needs PyPI or a local mirror)"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "${constraints[@]}" "$build$extra" ||
    die "pip could not install the device package (above: why); on a Jetson, pycuda needs the CUDA toolkit: export PATH=/usr/local/cuda/bin:\$PATH"
# Same version number as before: make sure this checkout's code is what runs.
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --force-reinstall "$build"

if [ "$PLATFORM" = jetson ]; then
    # JetPack's OpenCV has GStreamer (csi:// cameras); the wheel pip pulled in would hide it.
    if PYTHONNOUSERSITE=1 /usr/bin/python3 -c 'import cv2, sys; sys.exit("GStreamer:                   YES" not in cv2.getBuildInformation())' 2>/dev/null; then
        "$VENV/bin/pip" uninstall --quiet --yes opencv-python-headless || true
        say "using JetPack's OpenCV (with GStreamer)"
    else
        warn "the system OpenCV has no GStreamer: csi:// cameras will not open (USB cameras will)"
    fi
    "$VENV/bin/python" -c 'import tensorrt' 2>/dev/null ||
        warn "TensorRT is not importable: install JetPack's python3-libnvinfer; the service will use ONNX Runtime"
fi
if [ "$PLATFORM" = pi ]; then
    "$VENV/bin/python" -c 'import picamera2' 2>/dev/null ||
        warn "picamera2 is not installed: sudo apt install python3-picamera2 (for picamera2:// cameras)"
fi
"$VENV/bin/emotion-edge" --version >/dev/null || die "the installed emotion-edge command does not run"

# --- models, docs --------------------------------------------------------------------------------
install -d -m 0755 "$PREFIX/models" "$PREFIX/docs"
# Every file of the catalog (edge/catalog.py): model.name picks one.
catalog_files="$("$VENV/bin/python" -c 'from edge import catalog; print(" ".join(e.file(p) for e in catalog.CATALOG for p in catalog.PRECISIONS))')" ||
    die "the installed package cannot list its models (edge.catalog)"
for f in $catalog_files; do
    if [ -f "$MODELS_DIR/$f" ]; then install -m 0644 "$MODELS_DIR/$f" "$PREFIX/models/$f"; fi
done
yunet="$PREFIX/models/face_detection_yunet.onnx"
for candidate in "$MODELS_DIR/face_detection_yunet.onnx" "$SRC/../shared/models/face_detection_yunet.onnx"; do
    if [ -f "$candidate" ]; then
        install -m 0644 "$candidate" "$yunet"
        break
    fi
done
if [ ! -f "$yunet" ]; then
    "$VENV/bin/emotion-edge" models fetch --dest "$yunet" ||
        warn "no YuNet face detector: copy face_detection_yunet.onnx to $yunet, or the service will not start"
fi
for doc in docs/deploy.md README.md; do
    if [ -f "$SRC/$doc" ]; then install -m 0644 "$SRC/$doc" "$PREFIX/docs/$(basename "$doc")"; fi
done

# --- configuration and secrets -------------------------------------------------------------------
install -d -m 0755 "$CONF_DIR"
if [ ! -f "$CONF_DIR/config.toml" ]; then
    args=(--prefix "$PREFIX" --state-dir "$STATE_DIR" --model "$MODEL" --out "$CONF_DIR/config.toml")
    "$VENV/bin/python" "$SRC/systemd/device_config.py" "${args[@]}" || die "could not write $CONF_DIR/config.toml"
    if [ -n "$PRECISION" ]; then
        sed -i "s/^precision = \"int8\"/precision = \"$PRECISION\"/" "$CONF_DIR/config.toml"
    fi
else
    say "kept $CONF_DIR/config.toml"
fi
# Readable by the service's group only: it names the broker and the camera.
chown "root:$USER_NAME" "$CONF_DIR/config.toml"
chmod 0640 "$CONF_DIR/config.toml"
if [ ! -e "$CONF_DIR/mqtt-password" ]; then
    install -m 0600 -o root -g root /dev/null "$CONF_DIR/mqtt-password"
    say "created an empty $CONF_DIR/mqtt-password (root only): put the MQTT password there if the broker wants one"
fi
"$VENV/bin/emotion-edge" run --config "$CONF_DIR/config.toml" --print-config >/dev/null ||
    die "$CONF_DIR/config.toml is not valid (above: why); fix it and run this again"

install -d -m 0750 -o "$USER_NAME" -g "$USER_NAME" "$STATE_DIR"
# As the service will: its user, its configuration (this loads the configuration and the models' paths).
if command -v runuser >/dev/null; then
    runuser -u "$USER_NAME" -- "$VENV/bin/emotion-edge" run --config "$CONF_DIR/config.toml" --print-config >/dev/null ||
        die "the service user $USER_NAME cannot run $VENV/bin/emotion-edge with $CONF_DIR/config.toml (above: why)"
fi

# --- the unit ------------------------------------------------------------------------------------
install -m 0644 "$SRC/systemd/emotion-edge.service" "$UNIT_DIR/emotion-edge.service"
say "installed $UNIT_DIR/emotion-edge.service"
if [ "$PLATFORM" = jetson ]; then
    install -d -m 0755 "$UNIT_DIR/emotion-edge.service.d"
    install -m 0644 "$SRC/systemd/jetson.conf" "$UNIT_DIR/emotion-edge.service.d/jetson.conf"
    say "installed the Jetson drop-in $UNIT_DIR/emotion-edge.service.d/jetson.conf"
    # The GPU's device nodes, by path, from those that exist here (char-NAME groups cannot name them).
    if "$VENV/bin/python" "$SRC/systemd/jetson_devices.py" --out "$UNIT_DIR/emotion-edge.service.d/jetson-gpu.conf"; then
        chmod 0644 "$UNIT_DIR/emotion-edge.service.d/jetson-gpu.conf"
    else
        rm -f "$UNIT_DIR/emotion-edge.service.d/jetson-gpu.conf"
        warn "no GPU device nodes found: the service will run on ONNX Runtime (CPU); check with: emotion-edge doctor"
    fi
fi
if command -v systemd-analyze >/dev/null 2>&1; then
    # The installed unit with its drop-ins, as systemd will read them; any output is a problem.
    verify_out="$(systemd-analyze verify --man=no "$UNIT_DIR/emotion-edge.service" 2>&1)" || true
    if [ -n "$verify_out" ]; then
        warn "systemd-analyze verify reports on the installed unit:"
        echo "$verify_out" >&2
    else
        say "systemd-analyze verify: the unit and its drop-ins are valid"
    fi
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --quiet emotion-edge.service
    if [ "${NO_START:-}" = 1 ]; then
        say "enabled; start it with: sudo systemctl start emotion-edge"
    else
        systemctl restart emotion-edge.service
        say "started. Follow it: journalctl -u emotion-edge -f ; state: systemctl status emotion-edge"
    fi
else
    warn "systemd is not running on this machine: the unit is installed but not enabled or started"
fi
say "configuration: $CONF_DIR/config.toml (then: sudo systemctl restart emotion-edge)"
say "what it publishes: mosquitto_sub -h <broker> -t 'emotion-edge/#' -v"
