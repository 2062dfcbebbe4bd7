"""``emotion-edge watch``: the subscriber's tool. Registered in emotion_edge/cli.py through ``add_watch``.

Only argparse is imported here; the MQTT modules (and paho) load when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edge.flags import DEVICE_ID_HELP, HOST_HELP, PORT_HELP, TIMEOUT_HELP


class _RefusePassword(argparse.Action):
    """A password on the command line shows in ``ps`` and shell history; say what to do instead."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        parser.error(
            "passwords are not accepted on the command line (they show in ps and in shell history); "
            "use --password-file FILE or --password-env VARIABLE"
        )


def add_watch(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "watch",
        help="subscribe to devices and print their emotions live (a table, or JSON lines)",
        description="Subscribe to <base>/<device>/{availability,faces,emotion,stats} and print the stream.",
    )
    p.add_argument(
        "--device-id",
        help=f"{DEVICE_ID_HELP} (watch only this one; default: every device under the base topic)",
    )
    p.add_argument("--json", action="store_true", help="print every message as one JSON line instead of a table")
    p.add_argument("--count", type=int, help="exit after this many messages")
    add_broker_flags(p)
    p.set_defaults(func=cmd_watch)


def add_broker_flags(p: argparse.ArgumentParser) -> None:
    """Where the broker is and how to log in: a device's TOML (``--config``), flags on top."""
    p.add_argument("--config", type=Path, help="device config (TOML) whose [mqtt] table gives the broker settings")
    p.add_argument("--base", help="base topic (default emotion-edge, or the config's)")
    p.add_argument("--host", help=f"{HOST_HELP} (default localhost, or the config's)")
    p.add_argument("--port", type=int, help=f"{PORT_HELP} (default 1883, 8883 with TLS)")
    p.add_argument("--protocol", choices=["3.1.1", "5"], help="MQTT version (default 3.1.1)")
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument("--ca-file", type=Path, help="CA certificate that signed the broker's (implies --tls)")
    p.add_argument("--cert-file", type=Path, help="client certificate (implies --tls)")
    p.add_argument("--key-file", type=Path, help="client certificate's key")
    p.add_argument(
        "--no-verify-hostname", action="store_true", help="accept a certificate for another host name (testing only)"
    )
    p.add_argument("--username", help="user name for the broker")
    p.add_argument("--password-file", type=Path, help="file that holds the password")
    p.add_argument("--password-env", metavar="VARIABLE", help="environment variable that holds the password")
    p.add_argument("--password", nargs="?", action=_RefusePassword, help=argparse.SUPPRESS)


def watch_table(args: argparse.Namespace, keep: tuple[str, ...] = ()) -> tuple[dict[str, Any], Path | None]:
    """The ``[mqtt]`` table for watching: the config file's, then the flags on top. The device's own
    identity and publishing settings are dropped unless named in ``keep``."""
    table: dict[str, Any] = {}
    base_dir: Path | None = None
    if args.config is not None:
        table = _read_mqtt_table(args.config)
        base_dir = args.config.resolve().parent
    # The device's own identity and publishing settings do not apply to a subscriber.
    for key in ("client_id", "device_id", "discovery", "clean_start", "session_expiry_s"):
        if key not in keep:
            table.pop(key, None)
    tls = dict(table.get("tls", {}))
    auth = dict(table.get("auth", {}))
    flags = {"base": args.base, "host": args.host, "port": args.port, "protocol": args.protocol}
    table.update({k: v for k, v in flags.items() if v is not None})
    if args.tls or args.ca_file or args.cert_file:
        tls["enabled"] = True
    for key, value in (("ca_file", args.ca_file), ("cert_file", args.cert_file), ("key_file", args.key_file)):
        if value is not None:
            tls[key] = str(value.resolve())
    if args.no_verify_hostname:
        tls["verify_hostname"] = False
    if args.username is not None:
        auth["username"] = args.username
    if args.password_file is not None:
        auth["password_file"] = str(args.password_file.resolve())
        auth.pop("password_env", None)
    if args.password_env is not None:
        auth["password_env"] = args.password_env
        auth.pop("password_file", None)
    table["tls"] = tls
    table["auth"] = auth
    return table, base_dir


def _read_mqtt_table(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    from edge.mqtt.config import ConfigError

    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"--config {path}: no such file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {path} is not valid TOML: {exc}") from exc
    mqtt = data.get("mqtt", {})
    if not isinstance(mqtt, dict):
        raise ConfigError(f"--config {path}: [mqtt] must be a table")
    return dict(mqtt)


def cmd_watch(args: argparse.Namespace) -> int:
    from edge.mqtt.config import ConfigError, MqttConfig
    from edge.mqtt.watch import run_watch

    if args.count is not None and args.count < 1:
        raise ConfigError(f"--count {args.count}: give a positive number of messages")
    table, base_dir = watch_table(args)
    config = MqttConfig.from_dict(table, base_dir=base_dir)
    if args.device_id is not None:
        from edge.mqtt.config import check_level

        check_level("--device-id", args.device_id)
    return run_watch(config, args.device_id, args.json, sys.stdout, sys.stderr, count=args.count)


def add_mqtt(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "mqtt",
        help="MQTT housekeeping: remove a device from Home Assistant (forget)",
        description="MQTT housekeeping for a device's topics on its broker.",
    )
    actions = p.add_subparsers(dest="action", required=True)
    f = actions.add_parser(
        "forget",
        help="remove a device's Home Assistant discovery and its retained state from the broker",
        description="Publishes an empty retained message on every Home Assistant discovery config of the device "
        "(sensors emotion, faces, fps, latency; binary sensors occupancy, problem) and on its retained state "
        "topics (availability, emotion, presence): Home Assistant removes the entities and the device, and the "
        "broker forgets them. For a device that is gone, a device_id that was changed, or a demo run against a "
        "real broker. Stop the device first: a running device announces itself again when it reconnects.",
    )
    f.add_argument(
        "--device-id",
        help=f"{DEVICE_ID_HELP} (the one to forget; default: --config's mqtt.device_id, else this host's name)",
    )
    f.add_argument("--prefix", help="Home Assistant's discovery prefix (default homeassistant, or the config's)")
    f.add_argument(
        "--camera-names",
        help="comma-separated camera names of a several-camera device: their entities and retained streams too "
        "(default: --config's [cameras.NAME] tables)",
    )
    f.add_argument(
        "--timeout", type=float, default=10.0, help=f"{TIMEOUT_HELP} (to reach it and acknowledge it all; default 10)"
    )
    add_broker_flags(f)
    f.set_defaults(func=cmd_forget)
    d = actions.add_parser(
        "devices",
        help="list the emotion-edge devices Home Assistant is told about on this broker (to find ones to forget)",
        description="Lists every emotion-edge device whose Home Assistant discovery configs the broker holds, "
        "with its availability (online, offline): a device that is offline for good, or an old device_id, "
        "is one to remove with `emotion-edge mqtt forget --device-id ID`.",
    )
    d.add_argument("--prefix", help="Home Assistant's discovery prefix (default homeassistant, or the config's)")
    d.add_argument("--timeout", type=float, default=10.0, help=f"{TIMEOUT_HELP} (to reach it; default 10)")
    add_broker_flags(d)
    d.set_defaults(func=cmd_devices)


def cmd_forget(args: argparse.Namespace) -> int:
    from edge.mqtt.config import ConfigError, MqttConfig, check_level
    from edge.mqtt.forget import forget

    if args.timeout <= 0:
        raise ConfigError(f"--timeout {args.timeout}: give a positive number of seconds")
    table, base_dir = watch_table(args, keep=("device_id", "discovery"))
    if table.get("enabled") is False and args.host is None:
        print(f"mqtt.enabled is false in {args.config}: this device published nothing, so there is nothing to forget")
        return 0
    if args.prefix is not None:
        table["discovery"] = {**table.get("discovery", {}), "prefix": args.prefix}
    config = MqttConfig.from_dict(table, base_dir=base_dir)
    device_id = args.device_id if args.device_id is not None else config.resolved_device_id
    check_level("--device-id", device_id)
    cameras = forget_cameras(args)
    done = forget(config, device_id, timeout_s=args.timeout, cameras=cameras)
    print(
        f"forgot {device_id!r} on {config.host}:{config.resolved_port}: {len(done.topics)} retained topics "
        f"cleared (Home Assistant discovery under {config.discovery.prefix}/, state under {config.base}/{device_id}/)"
    )
    return 0


def forget_cameras(args: argparse.Namespace) -> list[str]:
    """The camera names ``--camera-names`` gives, else those of ``--config``'s [cameras.NAME] tables."""
    from edge.config import camera_name_problem
    from edge.mqtt.config import ConfigError

    if args.camera_names is not None:
        names = [n.strip() for n in args.camera_names.split(",") if n.strip()]
    elif args.config is not None:
        from edge.config import read_toml

        tables = read_toml(Path(args.config)).get("cameras", {})
        names = list(tables) if isinstance(tables, dict) else []
    else:
        names = []
    for name in names:
        problem = camera_name_problem(name)
        if problem:
            raise ConfigError(f"--camera-names: camera name {name[:40]!r}: {problem}")
    return names


def cmd_devices(args: argparse.Namespace) -> int:
    from edge.mqtt.config import ConfigError, MqttConfig
    from edge.mqtt.forget import MAX_LISTED, announced_devices
    from edge.mqtt.untrusted import clean

    if args.timeout <= 0:
        raise ConfigError(f"--timeout {args.timeout}: give a positive number of seconds")
    table, base_dir = watch_table(args, keep=("discovery",))
    if args.prefix is not None:
        table["discovery"] = {**table.get("discovery", {}), "prefix": args.prefix}
    config = MqttConfig.from_dict(table, base_dir=base_dir)
    found = announced_devices(config, timeout_s=args.timeout)
    where = f"{config.host}:{config.resolved_port}"
    if found.skipped:
        print(
            f"emotion-edge mqtt devices: skipped {found.skipped} malformed retained config(s) under "
            f"{config.discovery.prefix}/ (first: {found.first_skipped})",
            file=sys.stderr,
        )
    if not found.devices:
        print(f"no emotion-edge device is announced to Home Assistant on {where} (prefix {config.discovery.prefix})")
        return 0
    # Every value came from the broker, where anyone may publish: cleaned (no escape sequences) and cut.
    print(f"{'DEVICE':<24}{'STATUS':<10}{'BASE':<20}{'ENTITIES':>8}  MODEL")
    for d in found.devices:
        print(
            f"{clean(d.device_id, 40):<24}{clean(d.status, 9):<10}{clean(d.base, 40):<20}{d.entities:>8}  "
            f"{clean(d.model, 60)}"
        )
    if found.left_out:
        print(f"... and {found.left_out} more device(s) not listed (over {MAX_LISTED})")
    print("remove one (stop it first) with: emotion-edge mqtt forget --device-id ID [--base BASE]" + _flags(args))
    return 0


def _flags(args: argparse.Namespace) -> str:
    """The broker flags this command was given, to repeat in the hint."""
    parts = [f" --{name} {value}" for name, value in (("host", args.host), ("port", args.port)) if value is not None]
    if args.config is not None:
        parts.append(f" --config {args.config}")
    return "".join(parts)
