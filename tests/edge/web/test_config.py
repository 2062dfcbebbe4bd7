"""The [web] table: off and loopback by default, never another address without credentials, no secrets in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import load_config
from edge.web.config import Credentials, WebConfig, WebConfigError, is_loopback
from edge.web.server import WebError, WebServer


def test_defaults_are_off_and_loopback() -> None:
    c = WebConfig()
    assert c.enabled is False
    assert c.host == "127.0.0.1"
    assert not c.has_credentials and not c.tls


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "localhost", "::1", "[::1]"])
def test_loopback_addresses(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "device.local", "10.0.0.1"])
def test_other_addresses_refused_without_credentials(host: str) -> None:
    with pytest.raises(WebConfigError, match=r"web\.host.*credentials.*web\.token_file"):
        WebConfig.from_table({"enabled": True, "host": host})
    # Disabled, the address alone is not an error (nothing listens).
    WebConfig.from_table({"enabled": False, "host": host})


def test_other_address_accepted_with_a_token_source(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("x" * 24 + "\n")
    c = WebConfig.from_table({"enabled": True, "host": "0.0.0.0", "token_file": str(token)})
    assert c.credentials().token == "x" * 24  # the trailing newline is not part of it
    c = WebConfig.from_table({"enabled": True, "host": "0.0.0.0", "password_env": "VIEW_PASSWORD"})
    assert c.credentials({"VIEW_PASSWORD": "a secret of some length"}).password == "a secret of some length"


@pytest.mark.parametrize("key", ["token", "password"])
def test_secrets_in_the_configuration_are_refused(key: str) -> None:
    with pytest.raises(WebConfigError, match=rf"web\.{key}: .*not accepted in the configuration.*web\.{key}_file"):
        WebConfig.from_table({"enabled": True, key: "hunter2hunter2hunter2"})


def test_credential_problems_name_the_key(tmp_path: Path) -> None:
    c = WebConfig.from_table({"enabled": True, "host": "0.0.0.0", "token_env": "VIEW_TOKEN"})
    with pytest.raises(WebConfigError, match=r"web\.token_env: the environment variable VIEW_TOKEN is not set"):
        c.credentials({})
    with pytest.raises(WebConfigError, match="at least 16"):
        c.credentials({"VIEW_TOKEN": "short"})
    with pytest.raises(WebConfigError, match="empty"):
        WebConfig(enabled=True, password_env="P").credentials({"P": "  "})
    with pytest.raises(WebConfigError, match=r"web\.token_file: .*absent does not exist"):
        WebConfig.from_table({"enabled": True, "host": "0.0.0.0", "token_file": str(tmp_path / "absent")})
    token = tmp_path / "token"
    token.write_text("y" * 20)
    with pytest.raises(WebConfigError, match="both set"):
        WebConfig.from_table({"token_file": str(token), "token_env": "B"})
    with pytest.raises(WebConfigError, match="not an environment variable name"):
        WebConfig.from_table({"password_env": "my password"})


def test_web_is_a_section_of_the_device_configuration(tmp_path: Path) -> None:
    assert load_config(env={}).web == WebConfig()
    toml = tmp_path / "device.toml"
    toml.write_text('[web]\nenabled = true\nhost = "0.0.0.0"\n')
    with pytest.raises(WebConfigError, match=rf"web\.host.*credentials.*\(web\.host from file {toml}\)"):
        load_config(toml, env={})
    toml.write_text("[web]\nmax_fps = 0\n")
    with pytest.raises(
        WebConfigError,
        match=rf"web\.max_fps=0\.0 \(from file {toml}\) is out of range; allowed: 0 < web\.max_fps <= 60",
    ):
        load_config(toml, env={})
    toml.write_text('[web]\npassword = "hunter2"\n')
    with pytest.raises(WebConfigError, match=r"web\.password: a password is not accepted"):
        load_config(toml, env={})
    (tmp_path / "token").write_text("z" * 32)
    toml.write_text('[web]\nenabled = true\nhost = "0.0.0.0"\ntoken_file = "token"\n')
    config = load_config(toml, env={"EMOTION_EDGE_WEB_PORT": "8443", "EMOTION_EDGE_WEB_TOKEN": "not config"})
    assert config.web.token_file == tmp_path / "token"  # relative to the file's folder
    assert config.web.port == 8443
    with pytest.raises(WebConfigError, match=r"unknown key web\.colour"):
        load_config(env={"EMOTION_EDGE_WEB_COLOUR": "red"})


def test_the_server_refuses_a_public_address_without_credentials_even_when_built_by_hand() -> None:
    config = WebConfig.model_construct(enabled=True, host="0.0.0.0", port=0)
    with pytest.raises(WebError, match="not a loopback address"):
        WebServer(config, None, Credentials())


def test_run_refuses_to_start_on_a_public_address_without_credentials(tmp_path: Path) -> None:
    import subprocess
    import sys

    toml = tmp_path / "device.toml"
    toml.write_text('[web]\nenabled = true\nhost = "0.0.0.0"\n')
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-m", "emotion_edge.cli", "run", "--config", str(toml)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=300,  # a loaded machine takes a minute just to import; the answer itself is immediate
    )
    assert done.returncode == 2
    assert "web.host='0.0.0.0' lets other machines open the live view, so it needs credentials" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_short_password_is_refused_like_a_short_token() -> None:
    c = WebConfig.from_table({"enabled": True, "host": "0.0.0.0", "password_env": "VIEW_PASSWORD"})
    with pytest.raises(
        WebConfigError, match=r"web\.password_env VIEW_PASSWORD: the password is 1 characters; use at least 16"
    ):
        c.credentials({"VIEW_PASSWORD": "x"})
    assert c.credentials({"VIEW_PASSWORD": "correct horse battery"}).password == "correct horse battery"


@pytest.mark.parametrize("name", ["me:you", "a\x1bb", "tab\there"])
def test_a_user_name_http_basic_cannot_carry_is_refused(name: str) -> None:
    with pytest.raises(WebConfigError, match=r"web\.username"):
        WebConfig.from_table({"username": name})


@pytest.mark.parametrize("host", ["127.0.0.1 ", " 0.0.0.0", "localhost\n"])
def test_a_host_with_spaces_around_it_is_refused_naming_the_key(host: str) -> None:
    with pytest.raises(WebConfigError, match=r"web\.host=.*spaces"):
        WebConfig.from_table({"host": host})


def test_credentials_over_plain_http_off_loopback_are_warned_about_once(caplog) -> None:
    import logging

    from edge.web.view import WebView

    caplog.set_level(logging.WARNING, logger="edge.web")
    config = WebConfig.from_table({"enabled": True, "host": "0.0.0.0", "port": 0, "token_env": "T"})
    view = WebView(config, ["happy"], credentials=config.credentials({"T": "q" * 24}))
    view.start()
    try:
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    finally:
        view.close()
    assert len(warnings) == 1, warnings
    assert "plain http" in warnings[0] and "web.cert_file" in warnings[0]
    caplog.clear()
    loopback = WebView(WebConfig(enabled=True, port=0), ["happy"], credentials=Credentials(token="q" * 24))
    loopback.start()  # an SSH tunnel carries loopback's credentials encrypted: nothing to warn about
    loopback.close()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
