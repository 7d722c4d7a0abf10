"""End to end: `streamlit run app.py` in headless Chromium.

The map, legend and figures show; numbered proposals are drawn on top and listed as
decisions; a row click zooms the map; the proposals download opens in geopandas; a sites
file full of script payloads opens no dialog, the map draws and the names show as text.
Screenshots go to tests/artifacts/ (and to $HARMREACH_SHOTS when set, e.g. /tmp/shots).
"""

from __future__ import annotations

import json
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
SHOTS = Path(os.environ["HARMREACH_SHOTS"]) if os.environ.get("HARMREACH_SHOTS") else None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM and DRIVER),
        reason="Debian chromium + chromium-driver not installed (.ci/run installs them)",
    ),
]

#: Names a hostile sites file might carry: each must show as text and run nothing.
PAYLOADS = {
    "X1": "<img src=x onerror=alert(1)>",
    "X2": "${alert(2)}",
    "X3": "`-alert(3)-`",
    "X4": "x`);alert(4);//",
    "X5": "</script><script>alert(5)</script>",
    "X6": "\"'><svg onload=alert(6)>",
}
POSTCODES = ["B45 8BW", "B96 6JJ", "DY10 1PN", "DY14 9LU", "WR1 1RD", "B96 6JP"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shot(drv, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    drv.save_screenshot(str(ARTIFACTS / name))
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        drv.save_screenshot(str(SHOTS / name))


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
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
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
        "--window-size=1440,1900",
    ):
        opts.add_argument(flag)
    opts.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    # report a dialog instead of dismissing it silently
    opts.set_capability("unhandledPromptBehavior", "ignore")
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield drv
    drv.quit()


def wait_for(drv, predicate, timeout=120):
    from selenium.common.exceptions import UnexpectedAlertPresentException

    end = time.time() + timeout
    while time.time() < end:
        try:
            value = predicate()
            if value:
                return value
        except UnexpectedAlertPresentException as exc:
            raise AssertionError(f"a dialog opened: {exc.alert_text!r}") from exc
        except Exception:  # noqa: BLE001 - page still loading
            pass
        time.sleep(0.5)
    raise AssertionError("timed out waiting for the page")


def body_text(drv) -> str:
    from selenium.webdriver.common.by import By

    return drv.find_element(By.TAG_NAME, "body").text


def no_dialog(drv) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        text = drv.switch_to.alert.text
    except NoAlertPresentException:
        return
    raise AssertionError(f"a dialog opened: {text!r}")


def open_demo(drv, url):
    drv.get(url)
    wait_for(drv, lambda: "Need within 15 min walk" in body_text(drv))
    return wait_for(drv, lambda: map_frame(drv))


def map_frame(drv):
    """The map's iframe once Leaflet has drawn in it (None before)."""
    from selenium.webdriver.common.by import By

    for frame in drv.find_elements(By.CSS_SELECTOR, "iframe"):
        drv.switch_to.frame(frame)
        try:
            if drv.find_elements(By.CSS_SELECTOR, ".leaflet-overlay-pane canvas"):
                return frame
        finally:
            drv.switch_to.default_content()
    return None


def test_dashboard_shows_map_legend_and_figures(server, browser):
    from selenium.webdriver.common.by import By

    frame = open_demo(browser, server)
    metrics = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]')
    text = body_text(browser)
    assert "illustrative" in text.lower() and "estimated" in text.lower()
    assert len(metrics) >= 4
    time.sleep(2)  # let Leaflet finish drawing
    shot(browser, "dashboard.png")
    browser.switch_to.frame(frame)
    try:
        legend = wait_for(browser, lambda: browser.find_element(By.ID, "harmreach-legend"))
        for words in ("pharmacy", "gap", "not shown", "hotspot", "80% and over", "proposed"):
            assert words in legend.text, words
        # the legend sits bottom right, the scale bar bottom left: they do not overlap
        scale = browser.find_element(By.CSS_SELECTOR, ".leaflet-control-scale")
        lr, sr = legend.rect, scale.rect
        assert sr["x"] + sr["width"] < lr["x"] or sr["y"] + sr["height"] < lr["y"]
        canvas = browser.find_element(By.CSS_SELECTOR, ".leaflet-overlay-pane canvas")
        assert canvas.size["width"] > 300 and canvas.size["height"] > 300
        controls = browser.find_element(By.CSS_SELECTOR, ".leaflet-control-layers").get_attribute(
            "textContent"
        )
        assert "share of need within reach" in controls and "Gaps" in controls
        assert "Hotspots" in controls and "Proposed satellites" in controls
        # area labels carry their value
        labels = browser.find_elements(By.XPATH, "//div[contains(text(), 'Redditch')]")
        assert labels and "%" in labels[0].text
        # 31 sites: single markers plus numbered markers for sites at one place
        singles = browser.find_elements(By.CSS_SELECTOR, ".leaflet-marker-pane .awesome-marker")
        assert len(singles) >= 20
    finally:
        browser.switch_to.default_content()


def test_numbered_proposals_on_top_listed_and_zoomable(server, browser):
    from selenium.webdriver.common.by import By

    frame = open_demo(browser, server)
    # the data grid draws on a canvas; its accessible table holds the same text
    headers = wait_for(
        browser,
        lambda: [
            h.get_attribute("textContent")
            for h in browser.find_elements(
                By.CSS_SELECTOR, '[data-testid="stDataFrame"] th[role="columnheader"]'
            )
        ],
    )
    assert headers[:6] == [
        "Rank",
        "Nearest postcode",
        "Ward",
        "District",
        "Nearest site",
        "Need newly in reach",
    ]
    browser.switch_to.frame(frame)
    try:
        markers = browser.find_elements(
            By.CSS_SELECTOR, ".leaflet-marker-pane > .leaflet-marker-icon"
        )
        numbered = {}
        others = []
        for m in markers:
            z = int(m.value_of_css_property("z-index") or 0)
            inner = m.get_attribute("innerHTML")
            if "#e65100" in inner or "rgb(230, 81, 0)" in inner:
                numbered[m.text.strip()] = z
            else:
                others.append(z)
        assert set(numbered) == {"1", "2", "3"}
        assert min(numbered.values()) > max(others)  # drawn above every site and label
        zoom_before = browser.execute_script("return window.map.getZoom()")
    finally:
        browser.switch_to.default_content()
    # clicking the first row of the proposals table zooms the map to proposal 1
    grid = wait_for(
        browser,
        lambda: next(
            g
            for g in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]')
            if "Nearest postcode" in g.get_attribute("textContent")
        ),
    )
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", grid)
    time.sleep(1)
    canvas = grid.find_element(By.CSS_SELECTOR, "canvas")
    from selenium.webdriver.common.action_chains import ActionChains

    # the row-selection column is the first, a row is ~35 px under the header
    ActionChains(browser).move_to_element_with_offset(
        canvas, -canvas.size["width"] // 2 + 15, -canvas.size["height"] // 2 + 35 + 17
    ).click().perform()

    def zoomed():
        f = map_frame(browser)
        if f is None:
            return False
        browser.switch_to.frame(f)
        try:
            return browser.execute_script("return window.map.getZoom()") >= 14
        finally:
            browser.switch_to.default_content()

    wait_for(browser, zoomed, timeout=60)
    time.sleep(1.5)
    shot(browser, "proposal_zoomed.png")
    assert zoom_before < 14


def test_proposals_download_opens_in_geopandas(server, browser, downloads):
    import geopandas as gpd
    from selenium.webdriver.common.by import By

    open_demo(browser, server)
    button = wait_for(
        browser,
        lambda: next(
            b for b in browser.find_elements(By.TAG_NAME, "button") if b.text == "Downloads"
        ),
    )
    button.click()
    dl = wait_for(
        browser,
        lambda: next(
            b for b in browser.find_elements(By.TAG_NAME, "button") if b.text == "proposals.geojson"
        ),
    )
    time.sleep(1)
    shot(browser, "view_downloads.png")
    dl.click()
    path = downloads / "harmreach_proposals.geojson"
    wait_for(browser, lambda: path.exists() and path.stat().st_size > 0, timeout=60)
    time.sleep(0.5)
    gdf = gpd.read_file(path)
    assert len(gdf) == 3
    for col in ("rank", "nearest_postcode", "ward_name", "district_name", "nearest_site_km"):
        assert col in gdf.columns, col
    assert "need_added" in gdf.columns
    assert gdf["rank"].tolist() == [1, 2, 3]
    assert gdf.geometry.x.between(-3, -1.5).all()  # lon/lat
    meta = json.loads(path.read_text())["metadata"]
    assert meta["layer"] == "proposals"


def test_script_payloads_in_a_sites_file_run_nothing(server, browser, tmp_path):
    import geopandas as gpd
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    rows = ["site_id,name,type,postcode,opening_hours"]
    for (sid, name), pc in zip(PAYLOADS.items(), POSTCODES, strict=True):
        quoted = '"' + name.replace('"', '""') + '"'
        rows.append(f"{sid},{quoted},pharmacy,{pc},Mo-Fr 09:00-17:00")
    sites = tmp_path / "hostile_sites.csv"
    sites.write_text("\n".join(rows) + "\n", encoding="utf-8")
    # the demo districts renamed with payloads too (area names reach tooltips and labels)
    from harmreach.geo.dataset import read_demo_areas

    areas = read_demo_areas("districts").to_crs(4326)
    names = list(PAYLOADS.values())
    areas["area_name"] = [names[i % len(names)] + f" {i}" for i in range(len(areas))]
    area_file = tmp_path / "hostile_areas.geojson"
    gpd.GeoDataFrame(areas).to_file(area_file, driver="GeoJSON")

    browser.get(server)
    wait_for(browser, lambda: "Need within" in body_text(browser))
    radio = wait_for(
        browser,
        lambda: next(
            lab
            for lab in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebar"] label')
            if lab.text == "My files"
        ),
    )
    radio.click()
    inputs = wait_for(
        browser,
        lambda: (lambda f: f if len(f) >= 2 else None)(
            browser.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebar"] input[type=file]')
        ),
    )
    inputs[0].send_keys(str(sites))
    time.sleep(1)
    inputs = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebar"] input[type=file]')
    inputs[1].send_keys(str(area_file))
    wait_for(browser, lambda: "6 of 6" in body_text(browser), timeout=180)
    no_dialog(browser)
    frame = wait_for(browser, lambda: map_frame(browser), timeout=60)
    time.sleep(2)
    no_dialog(browser)
    shot(browser, "hostile_upload.png")
    browser.switch_to.frame(frame)
    try:
        # nothing from the file became an element
        assert not browser.find_elements(By.CSS_SELECTOR, "img[src='x'], svg[onload]")
        # names appear as text: the area labels
        label_text = browser.find_element(By.CSS_SELECTOR, ".leaflet-marker-pane").text
        assert PAYLOADS["X1"] in label_text
        assert PAYLOADS["X2"] in label_text
        # hover every area (tooltips) and open every site's popup
        canvas = browser.find_element(By.CSS_SELECTOR, ".leaflet-overlay-pane canvas")
        w, h = canvas.size["width"], canvas.size["height"]
        for fx, fy in [(0.5, 0.5), (0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7), (0.5, 0.2)]:
            ActionChains(browser).move_to_element_with_offset(
                canvas, int((fx - 0.5) * w), int((fy - 0.5) * h)
            ).perform()
            time.sleep(0.2)
        no_dialog(browser)
        seen = []
        for marker in browser.find_elements(
            By.CSS_SELECTOR, ".leaflet-marker-pane .awesome-marker"
        ):
            browser.execute_script("arguments[0].click()", marker)
            time.sleep(0.3)
            pops = browser.find_elements(By.CSS_SELECTOR, ".leaflet-popup-content")
            if pops:
                seen.append(pops[-1].text)
        no_dialog(browser)
        popup_text = "\n".join(seen)
        for sid, name in PAYLOADS.items():
            assert name in popup_text, sid
        assert not browser.find_elements(By.CSS_SELECTOR, "img[src='x'], svg[onload]")
    finally:
        browser.switch_to.default_content()
    shot(browser, "hostile_popups.png")
    no_dialog(browser)


def test_other_views_render(server, browser):
    from selenium.webdriver.common.by import By

    open_demo(browser, server)
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
        wait_for(browser, lambda marker=marker: marker in body_text(browser))
        time.sleep(2)
        shot(browser, f"view_{view.split()[0].lower()}.png")
        body = body_text(browser)
        assert "Traceback" not in body and "Error" not in body.split("View")[0]


def test_map_is_kept_under_other_views_not_rebuilt(server, browser):
    """Switching views hides the map and shows it again: the same frame, the same Leaflet
    map (drawn once), and no room taken under the other views."""
    from selenium.webdriver.common.by import By

    frame = open_demo(browser, server)
    browser.switch_to.frame(frame)
    try:
        browser.execute_script("window.__harmreachKept = 42")
    finally:
        browser.switch_to.default_content()

    def click(name):
        button = wait_for(
            browser,
            lambda: next(
                (b for b in browser.find_elements(By.TAG_NAME, "button") if b.text == name), None
            ),
        )
        button.click()

    click("Areas")
    wait_for(browser, lambda: "Covered by one kind of site alone" in body_text(browser))
    time.sleep(1)
    assert not frame.is_displayed()  # still there (not stale), hidden
    box = browser.find_element(By.CSS_SELECTOR, ".st-key-harmreach_map")
    assert box.size["height"] < 5  # takes no room above the table
    shot(browser, "view_areas_map_hidden.png")
    click("Map")
    wait_for(browser, lambda: frame.is_displayed())
    time.sleep(1)
    browser.switch_to.frame(frame)
    try:
        assert browser.execute_script("return window.__harmreachKept") == 42  # not reloaded
        canvas = browser.find_element(By.CSS_SELECTOR, ".leaflet-overlay-pane canvas")
        assert canvas.size["width"] > 300 and canvas.size["height"] > 300
    finally:
        browser.switch_to.default_content()
    shot(browser, "map_after_view_switch.png")
