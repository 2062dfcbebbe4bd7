#!/usr/bin/env bash
# Remove what systemd/install.sh installed: `sudo make uninstall-service`.
#
# Stops and disables the service, removes the device from Home Assistant and its retained state from
# the broker (`emotion-edge mqtt forget`; skipped with a note when the broker cannot be reached),
# removes the unit, /opt/emotion-edge, the engine cache in /var/lib/emotion-edge and the service user. /etc/emotion-edge (the configuration and the MQTT
# password) is kept unless PURGE=1 (`sudo make uninstall-service PURGE=1`). Running it twice is fine.
set -euo pipefail

PREFIX=/opt/emotion-edge
CONF_DIR=/etc/emotion-edge
STATE_DIR=/var/lib/emotion-edge
UNIT=/etc/systemd/system/emotion-edge.service
USER_NAME=emotion-edge

say() { echo "uninstall-service: $*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "uninstall-service: error: run it as root (sudo make uninstall-service)" >&2
    exit 1
fi

if [ -d /run/systemd/system ]; then
    systemctl disable --now --quiet emotion-edge.service 2>/dev/null || true
fi
# Stopped first, so the device cannot announce itself again; the broker and the device id come from
# the configuration, as the service had them.
if [ -x "$PREFIX/venv/bin/emotion-edge" ] && [ -f "$CONF_DIR/config.toml" ]; then
    if "$PREFIX/venv/bin/emotion-edge" mqtt forget --config "$CONF_DIR/config.toml" --timeout 10; then
        say "removed the device from Home Assistant and its retained MQTT state"
    else
        say "could not remove the device from Home Assistant (broker unreachable?); later, from any machine:" \
            "emotion-edge mqtt forget --device-id ID --host BROKER"
    fi
fi
if [ -e "$UNIT" ] || [ -d "$UNIT.d" ]; then
    rm -rf "$UNIT" "$UNIT.d"
    say "removed $UNIT"
fi
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl reset-failed emotion-edge.service 2>/dev/null || true
fi
for dir in "$PREFIX" "$STATE_DIR"; do
    if [ -e "$dir" ]; then
        rm -rf "$dir"
        say "removed $dir"
    fi
done
if id -u "$USER_NAME" >/dev/null 2>&1; then
    userdel "$USER_NAME" 2>/dev/null || say "could not remove the user $USER_NAME (still logged in or running?)"
    if getent group "$USER_NAME" >/dev/null; then groupdel "$USER_NAME" 2>/dev/null || true; fi
    say "removed the user $USER_NAME"
fi
if [ "${PURGE:-}" = 1 ]; then
    if [ -e "$CONF_DIR" ]; then
        rm -rf "$CONF_DIR"
        say "removed $CONF_DIR (PURGE=1)"
    fi
elif [ -e "$CONF_DIR" ]; then
    say "kept $CONF_DIR (configuration and MQTT password); remove it too with PURGE=1"
fi
