"""Write the service's /etc/emotion-edge/config.toml from the annotated example systemd/emotion-edge.toml.

The example's paths are relative to the checkout; the service's are absolute: the models under the
install prefix, the TensorRT engine cache in the state directory. Only those lines change, so every
comment of the example stays. An [mqtt] table with the broker and the credential path for the
password is added when the example has none. The result is checked with the device's own config
loader before it is written, so a service never starts on a file this script got wrong.

Used by systemd/install.sh with the installed virtual environment's Python:
    python systemd/device_config.py --prefix /opt/emotion-edge --model emotion-edge-fp32.onnx --out FILE
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE / "emotion-edge.toml"
CREDENTIAL = "/run/credentials/emotion-edge.service/mqtt-password"

MQTT_TABLE = """
[mqtt]
# The broker the device publishes to (see the README's MQTT section for every key).
host = "localhost"
# port = 1883
# device_id = "kitchen"     # default: the host name; the topics are emotion-edge/<device_id>/...

# [mqtt.auth]
# username = "kitchen"
# The password: put it in /etc/emotion-edge/mqtt-password (root only, mode 0600). systemd hands it
# to the service alone at this path (LoadCredential= in the unit):
# password_file = "{credential}"
"""


class RenderError(ValueError):
    """The example does not have a line this script must change."""


def _set_key(text: str, section: str, key: str, value: str, commented_ok: bool = False) -> str:
    """Replace ``key = ...`` (or ``# key = ...`` when ``commented_ok``) inside ``[section]``, keeping
    the line's trailing comment."""
    lines = text.splitlines(keepends=True)
    current = None
    prefix = r"(?:#\s*)?" if commented_ok else ""
    pattern = re.compile(rf"^{prefix}{re.escape(key)}\s*=\s*(\"[^\"]*\"|\S+)(\s*#.*)?$")
    for i, line in enumerate(lines):
        header = re.match(r"^\[([^\]]+)\]", line)
        if header:
            current = header.group(1).strip()
            continue
        if current != section:
            continue
        match = pattern.match(line.rstrip("\n"))
        if match:
            comment = match.group(2) or ""
            lines[i] = f'{key} = "{value}"{comment}\n'
            return "".join(lines)
    raise RenderError(f"the example has no {key} in [{section}]; update systemd/device_config.py")


def render(example: str, prefix: Path, state_dir: Path, model: str, detector: str) -> str:
    models = prefix / "models"
    text = _set_key(example, "model", "path", str(models / model))
    text = _set_key(text, "detector", "model", str(models / detector))
    text = _set_key(text, "model", "engine_dir", str(state_dir), commented_ok=True)
    if not re.search(r"^\[mqtt[\].]", text, flags=re.MULTILINE):
        text = text.rstrip("\n") + "\n" + MQTT_TABLE.format(credential=CREDENTIAL)
    header = (
        "# Installed by emotion-edge's installer (systemd/install.sh) from systemd/emotion-edge.toml.\n"
        "# Edit freely: re-installing keeps this file. Apply changes: sudo systemctl restart emotion-edge\n"
        "#\n"
    )
    return header + text


def check(path: Path) -> None:
    """Load the file as the service will; raises the device's own ConfigError when it is wrong."""
    from edge.config import load_config

    load_config(path, env={})  # [mqtt] included


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--example", type=Path, default=EXAMPLE, help=f"the annotated example (default {EXAMPLE})")
    p.add_argument("--prefix", type=Path, default=Path("/opt/emotion-edge"), help="install prefix (models/ in it)")
    p.add_argument("--state-dir", type=Path, default=Path("/var/lib/emotion-edge"), help="engine cache")
    p.add_argument("--model", default="emotion-edge-fp32.onnx", help="emotion model file in <prefix>/models")
    p.add_argument("--detector", default="face_detection_yunet.onnx", help="YuNet file in <prefix>/models")
    p.add_argument("--out", type=Path, required=True, help="where to write it (an existing file is kept)")
    args = p.parse_args(argv)
    if args.out.exists():
        print(f"{args.out} exists: kept as it is", file=sys.stderr)
        return 0
    try:
        text = render(args.example.read_text(), args.prefix, args.state_dir, args.model, args.detector)
        partial = args.out.with_name(args.out.name + ".new")
        partial.write_text(text)
        try:
            check(partial)
        except ValueError:
            partial.unlink()
            raise
        partial.replace(args.out)
    except (OSError, ValueError) as exc:
        print(f"device_config: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} (model {args.model})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
