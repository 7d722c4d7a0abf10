"""End to end: `streamlit run app.py` in headless Chromium; the map, legend and figures show."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM and DRIVER),
        reason="Debian chromium + chromium-driver not installed (.ci/run installs them)",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "streamlit.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.enableStaticServing",
            "true",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    log.close()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1500,1300",
    ):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield drv
    drv.quit()


def wait_for(drv, predicate, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        try:
            value = predicate()
            if value:
                return value
        except Exception:  # noqa: BLE001 - page still loading
            pass
        time.sleep(0.5)
    raise AssertionError("timed out waiting for the page")


def test_dashboard_shows_map_legend_and_figures(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server)
    metrics = wait_for(
        browser, lambda: browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]')
    )
    text = wait_for(
        browser,
        lambda: (
            browser.find_element(By.TAG_NAME, "body").text
            if "Need within 15 min walk" in browser.find_element(By.TAG_NAME, "body").text
            else None
        ),
    )
    assert "illustrative" in text.lower() and "estimated" in text.lower()
    assert len(metrics) >= 4
    frame = wait_for(browser, lambda: browser.find_element(By.CSS_SELECTOR, "iframe"))
    time.sleep(3)  # let Leaflet draw
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    browser.switch_to.frame(frame)
    try:
        wait_for(browser, lambda: browser.find_elements(By.CSS_SELECTOR, ".leaflet-container"))
        legend = wait_for(browser, lambda: browser.find_element(By.ID, "harmreach-legend"))
        assert "pharmacy" in legend.text and "gap" in legend.text
        # vector layers are drawn on a canvas (prefer_canvas), so look for it and its size
        canvas = browser.find_element(By.CSS_SELECTOR, ".leaflet-overlay-pane canvas")
        assert canvas.size["width"] > 300 and canvas.size["height"] > 300
        controls = browser.find_element(By.CSS_SELECTOR, ".leaflet-control-layers").get_attribute(
            "textContent"
        )
        assert "share of need within reach" in controls and "Gaps" in controls
        # 31 site markers (awesome-markers) + 3 proposed satellites
        markers = wait_for(
            browser,
            lambda: (
                len(browser.find_elements(By.CSS_SELECTOR, ".leaflet-marker-pane .awesome-marker"))
                >= 31
                and browser.find_elements(By.CSS_SELECTOR, ".leaflet-marker-pane > *")
            ),
        )
        assert len(markers) >= 34
    finally:
        browser.switch_to.default_content()


def test_other_views_render(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server)
    wait_for(browser, lambda: "Need within" in browser.find_element(By.TAG_NAME, "body").text)
    for view in ("Areas", "Coverage curve", "Across the week", "Plan & what-if", "Downloads"):
        button = wait_for(
            browser,
            lambda view=view: next(
                (b for b in browser.find_elements(By.TAG_NAME, "button") if b.text == view), None
            ),
        )
        button.click()
        marker = {
            "Areas": "Covered by one kind of site alone",
            "Coverage curve": "10-minute walk",
            "Across the week": "Worst hours",
            "Plan & what-if": "Proposed satellites",
            "Downloads": "All layers (GeoPackage)",
        }[view]
        wait_for(
            browser, lambda marker=marker: marker in browser.find_element(By.TAG_NAME, "body").text
        )
        time.sleep(2)
        browser.save_screenshot(str(ARTIFACTS / f"view_{view.split()[0].lower()}.png"))
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "Traceback" not in body and "Error" not in body.split("View")[0]
