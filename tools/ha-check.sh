#!/usr/bin/env bash
# `make ha-check`: the device against a real Home Assistant core (tools/ha_check.py says what is checked).
#
# Home Assistant 2025.4.4 needs Python 3.13: it is installed into its own venv (.venv-ha, git-ignored)
# from PyPI with Home Assistant's own package constraints (homeassistant/package_constraints.txt,
# taken from the wheel), plus the requirements of the integrations it loads without default_config
# (frontend, MQTT, ...). Where Python 3.13, Mosquitto or the packages cannot be had, it prints why and
# exits 0 (skipped); a Home Assistant that disagrees with the device fails it (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."

HA_VERSION="${HA_VERSION:-2025.4.4}"
HA_VENV="${HA_VENV:-.venv-ha}"
VENV="${VENV:-.venv}"
# The requirements of the integrations a configuration without default_config loads (bootstrap's
# default integrations, their dependencies, MQTT): tools/ha_check.py --requirements lists them.
skip() { echo "ha-check: SKIPPED: $*"; exit 0; }

[ -x "$VENV/bin/emotion-edge" ] || skip "the project's venv ($VENV) is not installed: make install"
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || skip "Mosquitto is not installed (apt install mosquitto)"

find_python313() {
    local candidate
    for candidate in "${PYTHON313:-}" python3.13 "$HOME"/.pyenv/versions/3.13*/bin/python3.13 /usr/bin/python3.13 /usr/local/bin/python3.13; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys, ssl, sqlite3, venv; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

stamp="$HA_VENV/.installed-$HA_VERSION"
if [ ! -f "$stamp" ]; then
    py313="$(find_python313)" || skip "no Python 3.13 here (Home Assistant $HA_VERSION needs it; e.g. pyenv install 3.13)"
    echo "ha-check: installing Home Assistant $HA_VERSION into $HA_VENV with $py313 (once; a few minutes)"
    rm -rf "$HA_VENV"
    "$py313" -m venv "$HA_VENV" || skip "$py313 cannot make a venv"
    wheels="$HA_VENV/wheels"
    mkdir -p "$wheels"
    "$HA_VENV/bin/pip" install -qq --upgrade pip || skip "pip cannot reach the package index"
    "$HA_VENV/bin/pip" download -qq --no-deps "homeassistant==$HA_VERSION" -d "$wheels" ||
        skip "homeassistant==$HA_VERSION cannot be downloaded (no package index?)"
    wheel="$(ls "$wheels"/homeassistant-"$HA_VERSION"-*.whl | head -n 1)"
    # Home Assistant's own pins, shipped inside its wheel: the versions it is tested with.
    "$HA_VENV/bin/python" - "$wheel" "$HA_VENV/constraints.txt" <<'EOF'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel, open(sys.argv[2], "wb") as out:
    out.write(wheel.read("homeassistant/package_constraints.txt"))
EOF
    "$HA_VENV/bin/pip" install -qq "$wheel" -c "$HA_VENV/constraints.txt" ||
        skip "homeassistant==$HA_VERSION could not be installed with its constraints"
    "$HA_VENV/bin/python" tools/ha_check.py --requirements > "$HA_VENV/requirements.txt"
    "$HA_VENV/bin/pip" install -qq -r "$HA_VENV/requirements.txt" -c "$HA_VENV/constraints.txt" ||
        skip "the requirements of Home Assistant's integrations could not be installed"
    touch "$stamp"
fi

exec timeout "${HA_CHECK_TIMEOUT:-900}" "$HA_VENV/bin/python" tools/ha_check.py --venv "$VENV" "$@"
