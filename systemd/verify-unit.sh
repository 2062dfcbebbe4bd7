#!/usr/bin/env bash
# `systemd-analyze verify` on systemd/emotion-edge.service, alone and with the Jetson drop-ins
# (systemd/jetson.conf, and the GPU drop-in systemd/jetson_devices.py writes), on any machine with
# systemd's tools.
#
# verify insists that ExecStart= exists, and the unit names the installed
# /opt/emotion-edge/venv/bin/emotion-edge; so it runs against a throwaway root holding this
# machine's own units, a placeholder at that path and the unit, and the unit itself stays as shipped.
# Also prints the `systemd-analyze security` exposure scores (--security-only: only the unit's).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
unit="$here/emotion-edge.service"
exec_start="$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")"

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "verify-unit: systemd-analyze is not installed; the unit was not checked" >&2
    exit 0
fi

security() {
    # --offline (systemd 250+) scores the file without a running systemd.
    systemd-analyze security --offline=true "$unit" | tail -n 1
}
if [ "${1:-}" = "--security-only" ]; then
    security
    exit 0
fi

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
units=""
for dir in /usr/lib/systemd/system /lib/systemd/system; do
    if [ -d "$dir" ]; then units="$dir"; break; fi
done
if [ -z "$units" ]; then
    echo "verify-unit: no systemd unit directory on this machine; the unit was not checked" >&2
    exit 0
fi
mkdir -p "$root/usr/lib/systemd" "$root/etc/systemd/system" "$root$(dirname "$exec_start")"
cp -a "$units" "$root/usr/lib/systemd/"
printf '#!/bin/sh\nexit 0\n' >"$root$exec_start"
chmod 755 "$root$exec_start"
cp "$unit" "$root/etc/systemd/system/"

verify() {
    # verify prints problems and still exits 0 for some of them (an unknown key is only a warning):
    # any output counts as a failure here.
    local what="$1" out
    out="$(systemd-analyze verify --man=no --root="$root" emotion-edge.service 2>&1)" || {
        echo "$out" >&2
        echo "verify-unit: systemd-analyze verify failed on $what" >&2
        exit 1
    }
    if [ -n "$out" ]; then
        echo "$out" >&2
        echo "verify-unit: systemd-analyze verify reported problems in $what" >&2
        exit 1
    fi
    echo "verify-unit: $what passes systemd-analyze verify ($(systemd-analyze --version | head -n 1))"
}

verify "$unit"
security
mkdir -p "$root/etc/systemd/system/emotion-edge.service.d"
cp "$here/jetson.conf" "$root/etc/systemd/system/emotion-edge.service.d/"
# The GPU drop-in the installer writes on a Jetson, here from a made-up /dev with an Orin's nodes
# (plain files: device nodes need root to create; the generator is tested on real ones too).
fake="$root/fake-jetson"
mkdir -p "$fake/dev/nvgpu/igpu0"
for node in nvmap nvhost-ctrl-gpu nvhost-gpu nvhost-as-gpu host1x-fence nvgpu/igpu0/ctrl nvgpu/igpu0/as; do
    : >"$fake/dev/$node"
done
printf 'Character devices:\n 10 misc\n507 17000000.gpu\n508 17000000.gpu\n' >"$fake/devices"
python3 "$here/jetson_devices.py" --dev "$fake/dev" --proc-devices "$fake/devices" --any-file \
    --out "$root/etc/systemd/system/emotion-edge.service.d/jetson-gpu.conf" 2>/dev/null
verify "$unit with the Jetson drop-ins $here/jetson.conf and the generated jetson-gpu.conf"
systemd-analyze security --offline=true --root="$root" emotion-edge.service | tail -n 1
