"""Benchmark the dashboard in a real browser: seconds from a control change until the page is idle.

Run: ``python bench/browser.py [--url http://127.0.0.1:8600] [--repeat 2] [--shots DIR]``.
Without ``--url`` it starts ``streamlit run app.py`` on a free port and stops it at the end.
Needs Debian's ``chromium`` and ``chromium-driver`` (``apt-get install -y chromium
chromium-driver``) and ``selenium`` (a test extra).

"Idle" means: Streamlit's script state is ``notRunning`` after having run for this change,
no element is marked stale, the map (when the Map view is shown) is drawn by Leaflet in its
iframe, and nothing in the page or its iframes has changed for 0.5 s (MutationObservers).
The time reported ends at the last change, not after the quiet wait. The wait runs inside
the page, so Selenium's round trips after the change are not counted. Each control is
changed, then changed back, so the second row of a pair is a return to settings already
computed (a cache hit).

The clock starts at the change itself: the page's first trusted input event (pointer down,
key down) after the step is armed, as a user's click or key press would start it. Selenium's
own search for the control before that event (one round trip per element it reads, 0.1-0.4 s
here) is not the dashboard's time; it is reported beside, as "from the Selenium call", which
is how this script measured before.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Runs inside the page once per load: the time of the first trusted input event after arming.
ARM_JS = r"""
if (!window.__hrArmed) {
  window.__hrArmed = true;
  const note = (e) => {
    if (e.isTrusted && window.__hrInput === null) { window.__hrInput = performance.now(); }
  };
  for (const type of ['pointerdown', 'mousedown', 'keydown', 'click']) {
    document.addEventListener(type, note, {capture: true});
  }
}
window.__hrInput = null;
return performance.now();
"""

#: Runs inside the page: resolve with performance.now() when the app is idle again.
WAIT_IDLE_JS = r"""
const done = arguments[arguments.length - 1];
const needMap = arguments[0];     // is the Map view shown?
const timeoutMs = arguments[1];
const QUIET_MS = 500;
const t0 = performance.now();
let sawRun = false, idleAt = null, quietSince = null, lastMut = t0;
const watched = new WeakSet();
const mark = () => { lastMut = performance.now(); };
function watch(doc) {
  if (!doc || !doc.body || watched.has(doc)) return;
  watched.add(doc);
  new MutationObserver(mark).observe(doc.body,
    {subtree: true, childList: true, attributes: true, characterData: true});
}
function mapDrawn() {
  for (const f of document.querySelectorAll('iframe')) {
    let doc = null;
    try { doc = f.contentDocument; } catch (e) { continue; }
    const pane = doc && doc.querySelector('.leaflet-container .leaflet-overlay-pane');
    if (pane && pane.querySelector('canvas, svg')) return true;
  }
  return false;
}
function tick() {
  watch(document);
  for (const f of document.querySelectorAll('iframe')) {
    try { watch(f.contentDocument); } catch (e) {}
  }
  const app = document.querySelector('[data-testid="stApp"]');
  const state = app ? app.getAttribute('data-test-script-state') : 'none';
  const now = performance.now();
  if (state === 'running' || state === 'rerunRequested') { sawRun = true; idleAt = null; }
  const stale = document.querySelector('[data-stale="true"]');
  let ok = state === 'notRunning' && !stale && (!needMap || mapDrawn());
  if (ok && sawRun) {
    // Streamlit is done; the page is idle once nothing in it (map iframe included) has
    // changed for QUIET_MS. The change ends at the later of the two, not after the wait.
    if (idleAt === null) idleAt = now;
    const last = Math.max(idleAt, lastMut);
    if (now - last > QUIET_MS) { done({end: last, ran: true, script_end: idleAt}); return; }
  } else if (!sawRun) {
    if (ok) { quietSince = quietSince ?? now; } else { quietSince = null; }
    if (ok && now - Math.max(quietSince, lastMut) > 1500) {
      done({end: Math.max(quietSince, lastMut), ran: false}); return;
    }
  } else { idleAt = null; }
  if (now - t0 > timeoutMs) { done({end: now, ran: sawRun, timeout: true, state: state}); return; }
  setTimeout(tick, 10);
}
tick();
"""


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, log_path: Path) -> subprocess.Popen:
    """``streamlit run app.py`` on ``port`` (loopback), waiting until it accepts connections."""
    log = open(log_path, "w")  # noqa: SIM115 - the process owns it until it ends
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
        stdout=log,
        stderr=subprocess.STDOUT,
        # a register of its own: every run starts from a fresh machine's state, and the
        # bench's settings never enter the user's publication register
        env={
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "HARMREACH_REGISTER": os.environ.get("HARMREACH_BENCH_REGISTER")
            or tempfile.mkdtemp(prefix="harmreach_bench_register_"),
        },
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"streamlit did not start on port {port}; see {log_path}")


def make_browser(width: int = 1440, height: int = 1000):  # noqa: ANN201
    """Headless Debian Chromium driven by Selenium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        raise SystemExit("install Debian's chromium and chromium-driver first")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--window-size={width},{height}",
    ):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(driver), options=opts)
    drv.set_script_timeout(120)
    return drv


def wait_idle(drv, need_map: bool, timeout_s: float = 60) -> dict:  # noqa: ANN001
    """Block until the page is idle; returns the page time it became idle and what was seen."""
    return drv.execute_async_script(WAIT_IDLE_JS, need_map, timeout_s * 1000)


def timed(drv, prepare, act, need_map: bool = True) -> dict:  # noqa: ANN001
    """``prepare()`` (e.g. open a drop-down), then time ``act()`` until the page is idle.

    The clock is the page's own (``performance.now``). It starts at the first trusted input
    event ``act()`` causes (``s``); ``call_s`` starts just before Selenium is told to act.
    """
    if prepare is not None:
        prepare()
        time.sleep(0.2)
    call = drv.execute_script(ARM_JS)
    act()
    res = wait_idle(drv, need_map)
    start = drv.execute_script("return window.__hrInput")
    if start is None:  # no input event seen (should not happen): fall back to the call
        start = call
        res["no_event"] = True
    res["s"] = max(res["end"] - start, 0.0) / 1000
    res["call_s"] = max(res["end"] - call, 0.0) / 1000
    # when Streamlit's script run ended (server side and deltas), before the browser drew
    res["server_s"] = max(res.get("script_end", res["end"]) - start, 0.0) / 1000
    return res


# ------------------------------------------------------------------ controls
def sidebar(drv):  # noqa: ANN001, ANN201
    """The sidebar element."""
    from selenium.webdriver.common.by import By

    return drv.find_element(By.CSS_SELECTOR, '[data-testid="stSidebar"]')


def slider_thumb(drv, label: str):  # noqa: ANN001, ANN201
    """The thumb of the sidebar slider whose label starts with ``label``."""
    from selenium.webdriver.common.by import By

    for block in sidebar(drv).find_elements(By.CSS_SELECTOR, '[data-testid="stSlider"]'):
        if block.text.startswith(label):
            return block.find_element(By.CSS_SELECTOR, 'input[type="range"]')
    raise LookupError(f"no slider {label!r}")


def press(drv, element, key: str):  # noqa: ANN001
    """Focus ``element`` and press one key."""
    from selenium.webdriver.common.action_chains import ActionChains

    drv.execute_script("arguments[0].focus()", element)
    ActionChains(drv).send_keys(key).perform()


def open_select(drv, label: str):  # noqa: ANN001
    """Open the sidebar selectbox labelled ``label`` (no rerun)."""
    from selenium.webdriver.common.by import By

    for block in sidebar(drv).find_elements(By.CSS_SELECTOR, '[data-testid="stSelectbox"]'):
        if block.text.startswith(label):
            block.find_element(By.CSS_SELECTOR, '[role="combobox"], input').click()
            return
    raise LookupError(f"no selectbox {label!r}")


def pick(drv, label: str, option: str):  # noqa: ANN001
    """Click ``option`` in the open drop-down."""
    from selenium.webdriver.common.by import By

    for li in drv.find_elements(By.CSS_SELECTOR, '[role="option"]'):
        if li.text.strip() == option:
            li.click()
            return
    raise LookupError(f"no option {option!r} in {label!r}")


def view(drv, name: str):  # noqa: ANN001
    """Click the view button ``name``."""
    from selenium.webdriver.common.by import By

    for b in drv.find_elements(By.TAG_NAME, "button"):
        if b.text == name:
            b.click()
            return
    raise LookupError(f"no view {name!r}")


def number_step(drv, label: str, up: bool = True):  # noqa: ANN001
    """Click + or - of the sidebar number input labelled ``label``."""
    from selenium.webdriver.common.by import By

    for block in sidebar(drv).find_elements(By.CSS_SELECTOR, '[data-testid="stNumberInput"]'):
        if block.text.startswith(label):
            test_id = "stNumberInputStepUp" if up else "stNumberInputStepDown"
            block.find_element(By.CSS_SELECTOR, f'[data-testid="{test_id}"]').click()
            return
    raise LookupError(f"no number input {label!r}")


def checkbox(drv, label: str):  # noqa: ANN001
    """Toggle the sidebar checkbox labelled ``label``."""
    from selenium.webdriver.common.by import By

    for block in sidebar(drv).find_elements(By.CSS_SELECTOR, '[data-testid="stCheckbox"]'):
        if block.text.startswith(label):
            block.find_element(By.TAG_NAME, "label").click()
            return
    raise LookupError(f"no checkbox {label!r}")


def steps(drv):  # noqa: ANN001, ANN201
    """(name, prepare, act, map shown after) per control change, each followed by its undo."""
    right, left = "\ue014", "\ue012"

    def key(label: str, k: str):  # noqa: ANN202
        return lambda: press(drv, slider_thumb(drv, label), k)

    def sel(label: str, option: str):  # noqa: ANN202
        return (lambda: open_select(drv, label)), (lambda: pick(drv, label, option))

    return [
        ("minutes 15→20", None, key("Minutes", right), True),
        ("minutes 20→15 (computed)", None, key("Minutes", left), True),
        ("mode walk→cycle", *sel("Mode", "cycle"), True),
        ("mode cycle→walk (computed)", *sel("Mode", "walk"), True),
        ("time of week → Tue 19:00", *sel("Time of week", "Tue"), True),
        ("time of week → any (computed)", *sel("Time of week", ANY_TIME), True),
        ("satellites 3→4", None, key("Satellites", right), True),
        ("satellites 4→3 (computed)", None, key("Satellites", left), True),
        ("objective → backup", *sel("Objective", "most need newly with 2 sites"), True),
        ("objective → coverage (computed)", *sel("Objective", "most need newly in reach"), True),
        ("suppress 5→6", None, lambda: number_step(drv, "Suppress", True), True),
        ("suppress 6→5 (computed)", None, lambda: number_step(drv, "Suppress", False), True),
        ("view Map→Areas", None, lambda: view(drv, "Areas"), False),
        ("view Areas→Map", None, lambda: view(drv, "Map"), True),
        ("view Map→Plan & what-if", None, lambda: view(drv, "Plan & what-if"), False),
        ("view Plan→Map", None, lambda: view(drv, "Map"), True),
    ]


ANY_TIME = "Any time (all active sites)"


def main() -> None:
    """Time every control change; print a Markdown table (pass 1, then the later passes)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a running dashboard (default: start one)")
    ap.add_argument("--repeat", type=int, default=2, help="passes over all controls")
    ap.add_argument("--shots", type=Path, help="save a screenshot after each step here")
    ap.add_argument("--label", default="", help="a label for the table's column")
    ap.add_argument(
        "--think",
        type=float,
        default=0.3,
        help="seconds between one change's idle and the next change (a reader's pause)",
    )
    args = ap.parse_args()
    proc = None
    if args.url:
        url = args.url
    else:
        port = free_port()
        proc = start_server(port, Path("/tmp") / f"harmreach-bench-{port}.log")
        url = f"http://127.0.0.1:{port}"
    drv = make_browser()
    results: dict[str, list[float]] = {}
    calls: dict[str, list[float]] = {}
    server: dict[str, list[float]] = {}
    notes: dict[str, str] = {}
    try:
        t0 = time.perf_counter()
        drv.get(url)
        wait_idle(drv, True, timeout_s=300)
        print(f"first load (cold server: builds the demo once): {time.perf_counter() - t0:.1f} s")
        time.sleep(args.think)
        if args.shots:
            args.shots.mkdir(parents=True, exist_ok=True)
        for rep in range(args.repeat):
            for name, prepare, act, need_map in steps(drv):
                res = timed(drv, prepare, act, need_map)
                results.setdefault(name, []).append(res["s"])
                calls.setdefault(name, []).append(res["call_s"])
                server.setdefault(name, []).append(res["server_s"])
                if res.get("timeout"):
                    notes[name] = f"timeout ({res.get('state')})"
                elif not res.get("ran"):
                    notes[name] = "no rerun"
                elif res.get("no_event"):
                    notes[name] = "no input event seen: timed from the call"
                if args.shots and rep == 0:
                    slug = "".join(c if c.isalnum() else "_" for c in name)[:40]
                    drv.save_screenshot(str(args.shots / f"bench_{slug}.png"))
                time.sleep(args.think)
    finally:
        drv.quit()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    load = os.getloadavg()
    print(
        f"\nmachine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    label = args.label or "seconds"
    print(
        f"\n| control change | {label}: input event to idle, s, pass 1 "
        f"| passes 2-{args.repeat} | of which script run (pass 1) "
        "| from the Selenium call (pass 1) | note |"
    )
    print("|---|---:|---|---:|---:|---|")
    for name, vals in results.items():
        later = ", ".join(f"{v:.2f}" for v in vals[1:]) or "-"
        print(
            f"| {name} | {vals[0]:.2f} | {later} | {server[name][0]:.2f} "
            f"| {calls[name][0]:.2f} | {notes.get(name, '')} |"
        )
    print(
        "\nPass 1 is a first visit for each change not marked (computed); in later passes "
        "every setting has been computed before."
    )


if __name__ == "__main__":
    main()
