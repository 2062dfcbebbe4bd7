"""A throwaway certificate authority for the TLS tests, made with the openssl command."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.edge.mqtt.broker import TlsFiles

OPENSSL = shutil.which("openssl")
LEAF = "basicConstraints=CA:FALSE\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA the tests trust
    rogue_ca: Path  # a CA nobody should trust
    server: TlsFiles  # for 127.0.0.1 and localhost, signed by ca
    other_name: TlsFiles  # signed by ca, but only for broker.example
    client_cert: Path
    client_key: Path


def make_pki(folder: Path) -> Pki:
    def openssl(*args: str) -> None:
        assert OPENSSL is not None
        subprocess.run([OPENSSL, *args], cwd=folder, check=True, capture_output=True)

    def new_ca(name: str) -> None:
        openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN=emotion-edge test {name}",
        )  # fmt: skip

    def leaf(name: str, subject: str, extensions: str) -> None:
        (folder / f"{name}.ext").write_text(LEAF + extensions)
        openssl(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject,
        )  # fmt: skip
        openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
        )  # fmt: skip

    new_ca("ca")
    new_ca("rogue")
    leaf("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    leaf("other", "/CN=broker.example", "subjectAltName=DNS:broker.example\nextendedKeyUsage=serverAuth\n")
    leaf("client", "/CN=cam-1", "extendedKeyUsage=clientAuth\n")
    ca = folder / "ca.crt"
    return Pki(
        ca=ca,
        rogue_ca=folder / "rogue.crt",
        server=TlsFiles(ca, folder / "server.crt", folder / "server.key"),
        other_name=TlsFiles(ca, folder / "other.crt", folder / "other.key"),
        client_cert=folder / "client.crt",
        client_key=folder / "client.key",
    )
