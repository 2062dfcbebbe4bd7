"""A real headless browser (Debian's chromium, driven by Selenium through chromedriver) opens the live
view of a real ``emotion-edge run`` on a clip: the stream's picture changes, the emotion table fills,
and a screenshot is kept in runs/web-view.png. Nothing downloads a browser: both paths are given."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.shared, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = ROOT / "runs" / "web-view.png"
CLASSES = {"angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            pytest.skip(f"{path} is absent: `apt-get install -y {package}` to run the browser test")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install '.[dev]')")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1280,1140")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


class Device:
    """``emotion-edge run`` in a child process; its log is read for the live view's address."""

    def __init__(self, config: Path) -> None:
        self.log: list[str] = []
        self.url: str | None = None
        self._found = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "emotion_edge.cli", "run", "--config", str(config)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)
            found = re.search(r"live view at (https?://\S+/)", line)
            if found:
                self.url = found.group(1)
                self._found.set()

    def wait_url(self, timeout: float = 60.0) -> str:
        if not self._found.wait(timeout) or self.url is None:
            raise AssertionError("the live view's address never appeared in the log:\n" + "".join(self.log[-20:]))
        return self.url

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


FACE_ROWS = """
return Array.from(document.querySelectorAll('#faces tbody tr'))
  .filter((row) => row.querySelector('td.emotion'))
  .map((row) => [row.querySelector('td.emotion').textContent, row.querySelectorAll('.bar').length]);
"""
FIGURES = """
const dd = document.querySelector('#figures dd');
return [dd ? dd.textContent : '', document.getElementById('figures').innerText];
"""


def _with_frame_rate(read: list[str]) -> str | None:
    """The figures' text once their first entry (the loop's frame rate) is a positive number."""
    first, text = read
    try:
        return text if float(first) > 0 else None
    except ValueError:
        return None


def test_the_page_shows_the_live_stream_and_the_faces(
    browser, face_clip: Path, yunet_model: Path, shipped_model: Path, tmp_path: Path
) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    config = tmp_path / "device.toml"
    config.write_text(
        f'[source]\nuri = "{face_clip}"\nloop = true\nrealtime = true\n'
        f'[detector]\nmodel = "{yunet_model}"\n[model]\npath = "{shipped_model}"\n'
        "[stats]\ninterval_s = 1.0\n[mqtt]\nenabled = false\n"
        '[web]\nenabled = true\nhost = "127.0.0.1"\nport = 0\n'
    )
    device = Device(config)
    try:
        url = device.wait_url()
        browser.get(url)
        # The page rebuilds its tables on every update, so an element found one moment may be gone
        # the next: the page is read in single script calls (atomic against the page's own script)
        # and the waits look again when an element went stale.
        wait = WebDriverWait(browser, 30, ignored_exceptions=(StaleElementReferenceException,))
        # The emotion table fills: a row per face, with an emotion of the model's classes and a
        # probability for each class.
        rows = wait.until(lambda d: d.execute_script(FACE_ROWS))
        for emotion, bars in rows:
            assert emotion.strip() in CLASSES
            assert bars == len(CLASSES)
        wait.until(lambda d: d.find_element(By.ID, "health").text == "ok")
        # The stream plays: its picture is a real image, and it changes.
        stream = browser.find_element(By.ID, "stream")
        wait.until(lambda d: d.execute_script("return arguments[0].naturalWidth", stream) > 0)
        first = stream.screenshot_as_png
        wait.until(lambda d: stream.screenshot_as_png != first)
        # The figures arrive: the loop's frame rate, the backend and the model.
        figures = wait.until(lambda d: _with_frame_rate(d.execute_script(FIGURES)))
        assert "onnxruntime" in figures and "emotion-edge-cnn" in figures
        assert browser.execute_script("return document.querySelectorAll('#stages tbody tr').length") > 0
        time.sleep(3)  # a few seconds of timeline for the picture
        SCREENSHOT.parent.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT))
        problems = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert problems == [], problems  # no script errors, no refused resources (CSP), no 404s
    finally:
        code = device.stop()
    assert code == 0, "".join(device.log[-20:])
    assert SCREENSHOT.stat().st_size > 10_000
    print(f"screenshot: {SCREENSHOT}")
    if shutil.which("file"):
        subprocess.run(["file", str(SCREENSHOT)], check=False)
