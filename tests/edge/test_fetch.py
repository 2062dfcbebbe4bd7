"""`emotion-edge models fetch`: a pinned checksum, a verified download, and an offline error that helps."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edge.checksum import sha256_file
from edge.fetch import YUNET, FetchError, ModelFile, fetch

ROOT = Path(__file__).resolve().parents[2]
PAYLOAD = b"pretend this is an ONNX model" * 100


@pytest.fixture
def server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/model.onnx"
    httpd.shutdown()
    httpd.server_close()


def model(url: str, payload: bytes = PAYLOAD) -> ModelFile:
    return ModelFile("model.onnx", url, hashlib.sha256(payload).hexdigest(), len(payload))


def test_the_official_yunet_is_pinned() -> None:
    assert YUNET.url.startswith("https://github.com/opencv/opencv_zoo/")
    assert YUNET.url.endswith("face_detection_yunet_2023mar.onnx")
    assert len(YUNET.sha256) == 64 and int(YUNET.sha256, 16)


def test_a_verified_download_lands_at_the_destination(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "models" / "yunet.onnx"
    assert fetch(model(server), dest) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not list(dest.parent.glob("*.part"))


def test_a_download_with_the_wrong_checksum_is_not_kept(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "yunet.onnx"
    with pytest.raises(FetchError, match=r"has SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}: not saved"):
        fetch(model(server, payload=b"something else"), dest)
    assert not dest.exists() and not list(tmp_path.iterdir())


def test_offline_the_error_says_where_to_put_the_file(tmp_path: Path) -> None:
    dest = tmp_path / "models" / "face_detection_yunet.onnx"
    unreachable = ModelFile(YUNET.name, "http://127.0.0.1:9/face_detection_yunet_2023mar.onnx", YUNET.sha256, 1)
    with pytest.raises(FetchError) as err:
        fetch(unreachable, dest)
    message = str(err.value)
    assert message.startswith(f"cannot download {YUNET.name} (")
    assert "offline?" in message and f"copy it to {dest}" in message and "set detector.model" in message
    assert YUNET.sha256 in message and unreachable.url in message
    assert not dest.exists()


def test_a_different_file_already_there_is_left_alone_unless_forced(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "yunet.onnx"
    dest.write_bytes(b"my own detector")
    with pytest.raises(FetchError, match=r"exists with SHA-256 .* it is left alone: use --force"):
        fetch(model(server), dest)
    assert dest.read_bytes() == b"my own detector"
    fetch(model(server), dest, force=True)
    assert sha256_file(dest) == model(server).sha256


def test_the_right_file_already_there_is_not_downloaded_again(tmp_path: Path) -> None:
    dest = tmp_path / "yunet.onnx"
    dest.write_bytes(PAYLOAD)
    assert fetch(model("http://127.0.0.1:9/never-asked"), dest) == dest


def test_the_command_fails_offline_with_one_line_and_status_2(tmp_path: Path) -> None:
    # The real release URL is unreachable from a machine without internet; from one with it, this
    # test would download the real file, so it points the command at a closed local port instead.
    code = (
        "import sys, edge.fetch as f\n"
        "f.YUNET = f.ModelFile(f.YUNET.name, 'http://127.0.0.1:9/yunet.onnx', f.YUNET.sha256, f.YUNET.size)\n"
        "from emotion_edge.cli import main\n"
        f"sys.exit(main(['models', 'fetch', '--dest', {str(tmp_path / 'y.onnx')!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("emotion-edge: error: cannot download face_detection_yunet_2023mar.onnx")
    assert "Traceback" not in done.stderr
