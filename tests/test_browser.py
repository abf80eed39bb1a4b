"""The notebooks as a reader sees them: JupyterLab in a real Chromium (issue 18, item 1).

JupyterLab is started on loopback with a token, under the network guard (its log must stay
empty), and driven by Debian's Chromium through Selenium, pointed at /usr/bin/chromium and
/usr/bin/chromedriver (Selenium Manager is never asked, nothing is downloaded). Chromium is
kept on loopback too: host names resolve to nothing but 127.0.0.1, anything not local goes
to a proxy that is not there, background services are off, and its net log is checked at
the end for any request beyond 127.0.0.1.

* 00_setup is opened from the file browser (double-click), run with Run > Run All Cells in
  the tiny profile (its default recipe; only run_dir is pointed at the test's folder), and
  the page must show no error, HTML tables, the accuracy chart as an image and the model
  loading bars as widgets, not as text.
* 03_sft's executed copy from the demo run is opened the same way, without running it: its
  loss curves must display as images and its result table as an HTML table.

Each leaves a screenshot of the whole notebook (path printed): 00's in its own run folder
under tmp_path, 03's in the demo run's folder, under screenshots/. `make test` runs it
(marked browser, slow and world); `make test-fast` leaves it out. CI (.ci/run) installs
chromium with apt when it is missing (and fonts-wqy-microhei, without which the Chinese
summaries show as boxes in the screenshots); without it the test fails and says so. About a
minute in all (two busy CPU cores): JupyterLab and Chromium start in ~15 s, 00_setup runs
from the UI in 20-30 s, 03's executed copy is drawn in ~4 s.
"""

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from tests.conftest import ROOT, guarded_environment

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
# The program behind Debian's wrapper script, started directly: the wrapper adds the flags of
# /etc/chromium.d/, among them --enable-remote-extensions, whose extension update checks
# (update.googleapis.com) and start-up requests leave loopback (seen with Chromium 156).
CHROMIUM_PROGRAM = Path("/usr/lib/chromium/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = ("apt-get install chromium chromium-driver (Debian's packages; .ci/run installs them when missing, "
           "with fonts-wqy-microhei for the notebooks' Chinese)")
# JupyterLab with nothing that calls out: no news feed, no update check, no PyPI extension manager.
LAB_FLAGS = [
    "--no-browser",
    "--ServerApp.ip=127.0.0.1",
    "--ServerApp.port_retries=0",
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.extension_manager=readonly",
    "--LabApp.collaborative=False",
]
# The user settings a fresh JupyterLab would ask about: no news, no update check.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}
DEAD = "127.0.0.1:9"  # the discard port: nothing listens there
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-features=OptimizationHints,MediaRouter,DialMediaRouteProvider,Translate,AutofillServerCommunication,"
    "NetworkTimeServiceQuerying,CertificateTransparencyComponentUpdater,PreconnectToSearch,SearchEngineChoiceTrigger",
    "--metrics-recording-only",
    "--no-pings",
    # Nothing but 127.0.0.1 resolves, and what is not local goes to a proxy that is not there.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    f"--proxy-server=http://{DEAD}",
    "--proxy-bypass-list=127.0.0.1",
    # What a fresh profile still asks Google for at start-up, measured in the net log (accounts'
    # ListAccounts, GCM's check-in, the new tab page's doodle and bar): sent to the dead port instead.
    f"--gaia-url=http://{DEAD}",
    f"--google-base-url=http://{DEAD}",
    f"--google-apis-url=http://{DEAD}",
    f"--lso-url=http://{DEAD}",
    f"--gcm-checkin-url=http://{DEAD}/checkin",
    # Chromium 156 still checks for component updates at start-up despite --disable-component-update,
    # and preconnects to the default search engine's start page (DuckDuckGo in Debian's build).
    f"--component-updater=url-source=http://{DEAD}/update2",
    "--window-size=1400,1000",
]
# Before resolving a name Chromium checks that IPv6 is routable by connecting a UDP socket to this
# address: a route look-up in the kernel, no datagram is sent. The only address allowed beyond loopback.
IPV6_PROBE = "[2001:4860:4860::8888]:443"
RUN_TIMEOUT = 180  # s: opened, run and idle in 19-32 s measured on 2 busy CPU cores (papermill: 6-9 s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask(url: str, token: str, data: bytes | None = None):
    """A request to the server itself (no proxy from the environment)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=data, headers={"Authorization": f"token {token}"})
    with opener.open(request, timeout=5) as response:
        return response.read()


class Lab:
    def __init__(self, home: Path):
        self.home, self.root = home, home / "root"
        self.log, self.server_log = home / "netguard.log", home / "jupyterlab.log"
        self.port, self.token = free_port(), secrets.token_hex(24)
        self.url = f"http://127.0.0.1:{self.port}"

    def guard_log(self) -> str:
        return self.log.read_text()


def require_chromium():
    missing = [str(p) for p in (CHROMIUM, CHROMIUM_PROGRAM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        pytest.fail(f"the browser test needs {' and '.join(missing)}: {INSTALL}", pytrace=False)


@contextlib.contextmanager
def environment(**values: str):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def running_lab(home: Path):
    """JupyterLab on loopback with a token, under the network guard, serving home/root."""
    lab = Lab(home)
    lab.root.mkdir()
    env = guarded_environment(lab.log)
    settings = home / "settings"
    for name, value in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    env |= {"JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    command = [str(Path(sys.executable).parent / "jupyter"), "lab", *LAB_FLAGS, f"--port={lab.port}",
               f"--IdentityProvider.token={lab.token}", f"--ServerApp.root_dir={lab.root}"]
    if os.geteuid() == 0:
        command.append("--allow-root")  # CI runs as root
    with open(lab.server_log, "w") as out:
        proc = subprocess.Popen(command, env=env, cwd=lab.root, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ask(f"{lab.url}/api/status", lab.token)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start:\n{lab.server_log.read_text()[-3000:]}") from None
                time.sleep(0.3)
        yield lab
    finally:
        try:
            ask(f"{lab.url}/api/shutdown", lab.token, data=b"")  # stops its kernels too
            proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_chromium()  # before starting anything
    with running_lab(tmp_path_factory.mktemp("lab")) as lab:
        yield lab
    assert not lab.guard_log(), f"JupyterLab or a kernel reached beyond loopback:\n{lab.guard_log()}"


def beyond_loopback(netlog: Path) -> list[str]:
    """What Chromium's net log shows of requests, names and sockets beyond 127.0.0.1."""
    log = json.loads(netlog.read_text())
    kinds = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    beyond = set()
    for event in log["events"]:
        kind, params = kinds[event["type"]], event.get("params") or {}
        if kind == "UDP_LOCAL_ADDRESS":  # this end of a socket, not where it goes
            continue
        for key in ("url", "host", "address", "address_list", "proxy_chain"):
            values = params.get(key)
            for value in values if isinstance(values, list) else [values]:
                if not isinstance(value, str) or value.strip("[]") in ("", "direct://"):
                    continue
                if value.startswith(("data:", "blob:", "about:", "chrome:")):
                    continue
                if kind in ("UDP_CONNECT", "SOCKET_CONNECT") and value == IPV6_PROBE:
                    continue
                host = re.sub(r"^[a-z-]+://", "", value.strip("[]")).split("/")[0]
                host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host  # not an IPv6 address
                if host != "127.0.0.1":
                    beyond.add(f"{kind} {key}={value}")
    return sorted(beyond)


@contextlib.contextmanager
def chromium(home: Path, lab: Lab):
    """Headless Chromium from Debian, on loopback only, logged in to the lab with its token.
    Yields the Selenium driver; home/netlog.json is Chromium's net log, complete once it quits."""
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # Debian's build searches with DuckDuckGo, whose start page is its new tab page: a fresh profile
    # opens it (start.duckduckgo.com). A loopback search engine, and about:blank to start with.
    prefs = home / "profile" / "Default" / "Preferences"
    prefs.parent.mkdir(parents=True, exist_ok=True)
    engine = {"keyword": "loopback", "short_name": "loopback", "url": f"http://{DEAD}/?q={{searchTerms}}",
              "new_tab_url": "about:blank"}
    prefs.write_text(json.dumps({"default_search_provider_data": {"template_url_data": engine},
                                 "homepage": "about:blank", "homepage_is_newtabpage": False,
                                 "session": {"restore_on_startup": 4, "startup_urls": ["about:blank"]}}))
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM_PROGRAM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={home / 'profile'}", f"--log-net-log={home / 'netlog.json'}"]:
        options.add_argument(flag)
    options.ignore_local_proxy_environment_variables()  # Selenium talks to chromedriver on loopback, directly
    # Selenium Manager is skipped when the service names its driver (selenium's DriverFinder); were it
    # ever asked, it is offline and sends no statistics.
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(home / "chromedriver.log"))
    with environment(SE_OFFLINE="true", SE_AVOID_STATS="true"):
        driver = webdriver.Chrome(service=service, options=options)
    versions = driver.capabilities["browserVersion"], driver.capabilities["chrome"]["chromedriverVersion"].split()[0]
    print(f"chromium {versions[0]}, chromedriver {versions[1]}")
    try:
        driver.set_script_timeout(30)
        driver.get(f"{lab.url}/lab?token={lab.token}")
        wait_for(driver, ".jp-DirListing-content", 60)
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    home = tmp_path_factory.mktemp("chromium")
    with chromium(home, lab) as driver:
        yield driver
    beyond = beyond_loopback(home / "netlog.json")
    assert not beyond, f"Chromium asked for addresses beyond loopback: {beyond}"


def wait_for(driver, css: str, timeout: float):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


# The notebook in the current main-area tab (the dock panel hides the others by content-visibility,
# so they stay in the page), and what it shows.
CURRENT = """
const tab = document.querySelector('#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current');
const nb = tab && document.getElementById(tab.dataset.id);
"""
REPORT = CURRENT + """
if (!nb || !nb.classList.contains('jp-NotebookPanel')) return null;
const outputs = [...nb.querySelectorAll('.jp-OutputArea-output')];
const mime = type => outputs.filter(o => o.getAttribute('data-mime-type') === type).map(o => o.textContent);
const kernel = document.querySelector('.jp-StatusBar-TextItem[title^="Change kernel for"]');
return {
  path: (tab.title.match(/Path: (.*)/) || [])[1] || null,
  kernel: kernel ? kernel.textContent : null,
  running: nb.querySelector('.jp-Notebook-ExecutionIndicator')?.getAttribute('data-status'),
  dialog: document.querySelector('.jp-Dialog .jp-Dialog-header')?.textContent || null,
  prompts: [...nb.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim()),
  errors: mime('application/vnd.jupyter.error'),
  stderr: mime('application/vnd.jupyter.stderr'),
  text: mime('application/vnd.jupyter.stdout').concat(mime('text/plain')),
  tables: nb.querySelectorAll('.jp-OutputArea-output table').length,
  images: [...nb.querySelectorAll('.jp-OutputArea-output img')].map(i => [i.naturalWidth, i.naturalHeight]),
  widgets: nb.querySelectorAll('.jp-OutputArea-output .jupyter-widgets').length,
  progress: nb.querySelectorAll('.jp-OutputArea-output .widget-hprogress').length,
  progress_done: nb.querySelectorAll('.jp-OutputArea-output .widget-hprogress .progress-bar-success').length,
  widget_errors: outputs.filter(o => /Error displaying widget|Loading widget/.test(o.textContent)).length,
};
"""


def page_report(driver) -> dict | None:
    return driver.execute_script(REPORT)


def open_from_file_browser(driver, *names: str) -> dict:
    """Double-click each name in turn in the file browser (folders, then the notebook), as a reader
    does; returns the page report once the notebook's tab is current and its cells are drawn."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    for name in names:
        def item(d):
            for element in d.find_elements(By.CSS_SELECTOR, ".jp-DirListing-content .jp-DirListing-item"):
                if element.find_element(By.CSS_SELECTOR, ".jp-DirListing-itemText").text == name:
                    return element
            return None
        ActionChains(driver).double_click(WebDriverWait(driver, 30).until(item)).perform()
    path = "/".join(names)
    return WebDriverWait(driver, 60).until(lambda d: (r := page_report(d)) and r["path"] == path and r["prompts"]
                                           and r)


def wait_for_kernel_idle(driver, timeout: float, until=lambda report: True) -> dict:
    """Wait until the status bar says the kernel is idle and ``until(report)`` holds. A "Select
    Kernel" dialog (JupyterLab asks when the kernel list arrives after the notebook) gets the
    reader's answer: Select, the notebook's own kernel."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def done(d):
        report = page_report(d)
        if report and report["dialog"] and "Kernel" in report["dialog"]:
            d.find_element(By.CSS_SELECTOR, ".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
            return None
        ok = report and (report["kernel"] or "").endswith("| Idle") and report["running"] == "idle"
        return report if ok and until(report) else None
    return WebDriverWait(driver, timeout, poll_frequency=0.5).until(done)


def screenshot(driver, path: Path) -> Path:
    """The whole current notebook in one image: the window is made as tall as its content (measured
    again after each resize: cells out of view count only an estimated height until drawn)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = driver.get_window_size()
    outer = CURRENT + "const outer = nb.querySelector('.jp-WindowedPanel-outer'); outer.scrollTop = 0;"
    height = 0
    for _ in range(5):
        content = driver.execute_script(  # the last cell's bottom (not the scroll-past-end space), plus the status bar
            outer + "const cells = nb.querySelectorAll('.jp-Cell');"
            "return cells[cells.length - 1].getBoundingClientRect().bottom + 300;")
        if abs(content - height) < 20:
            break
        height = min(int(content), 20000)
        driver.set_window_size(size["width"], height)
        time.sleep(0.5)  # layout and paint at the new size
    driver.save_screenshot(str(path))
    driver.set_window_size(size["width"], size["height"])
    print(f"screenshot: {path}")
    return path


def no_errors(report: dict):
    assert not report["errors"], report["errors"]
    assert not [t for t in report["stderr"] if "Traceback" in t or "Error" in t], report["stderr"]


def test_setup_notebook_runs_from_the_jupyterlab_ui(lab, browser, world, tmp_path):
    from selenium.webdriver.common.by import By

    started = time.monotonic()
    run_dir = tmp_path / "run"
    nb = nbformat.read(ROOT / "notebooks" / "00_setup.ipynb", as_version=4)
    (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert 'recipe = "recipes/tiny.yaml"' in params.source  # the tiny profile is 00's default
    params.source = re.sub(r'^run_dir = ".*?"', f'run_dir = "{run_dir}"', params.source, flags=re.M)
    assert str(run_dir) in params.source  # the run goes to tmp_path, not runs/demo
    nbformat.write(nb, lab.root / "00_setup.ipynb")
    n_code = sum(c.cell_type == "code" for c in nb.cells)

    open_from_file_browser(browser, "00_setup.ipynb")
    wait_for_kernel_idle(browser, 60)
    browser.find_element(By.XPATH, "//li[contains(@class,'lm-MenuBar-item')][normalize-space(.)='Run']").click()
    browser.find_element(By.CSS_SELECTOR, '.lm-Menu-item[data-command="runmenu:run-all"]').click()  # Run All Cells
    report = wait_for_kernel_idle(browser, RUN_TIMEOUT, until=lambda r: len(r["prompts"]) == n_code and all(
        re.fullmatch(r"\[\d+\]:", p) for p in r["prompts"]))
    ran = time.monotonic() - started
    shot = screenshot(browser, run_dir / "screenshots" / "00_setup.png")
    print(f"00_setup opened, run and idle in {ran:.1f} s")

    no_errors(report)
    assert "all packages of the stack are installed" in "".join(report["text"])
    assert report["tables"] >= 4, report  # versions, problems, answers, the world's models: HTML tables
    assert [1 for w, h in report["images"] if w > 300 and h > 100], report["images"]  # the accuracy chart
    # transformers' weight-loading bars (tqdm.auto) drawn as ipywidgets, finished, not as text
    assert report["progress"] >= 2 and report["progress_done"] == report["progress"], report
    assert not report["widget_errors"], report
    assert not [t for t in report["text"] + report["stderr"] if re.search(r"\d+%\|", t)], report
    assert "setup" in json.loads((run_dir / "manifest.json").read_text())["stages"]
    assert shot.stat().st_size > 10_000
    assert not lab.guard_log(), lab.guard_log()


def saved_outputs(path: Path) -> tuple[int, int]:
    """The images and HTML tables among a notebook's saved outputs."""
    outputs = [o for c in nbformat.read(path, as_version=4).cells for o in c.get("outputs", [])]
    data = [o.get("data", {}) for o in outputs]
    return sum("image/png" in d for d in data), sum("<table" in d.get("text/html", "") for d in data)


def test_executed_sft_notebook_displays_its_plot_and_table(lab, browser, demo_run):
    from selenium.webdriver.support.ui import WebDriverWait

    run_dir, _ = demo_run
    executed = run_dir / "notebooks" / "03_sft.ipynb"
    images, tables = saved_outputs(executed)
    assert images >= 2 and tables >= 1, (images, tables)  # the loss curves (and accuracy chart), the result table
    (lab.root / "executed").mkdir(exist_ok=True)
    shutil.copy2(executed, lab.root / "executed" / "03_sft.ipynb")

    browser.find_element("css selector", ".jp-FileBrowser .jp-BreadCrumbs-home").click()  # the lab's root
    open_from_file_browser(browser, "executed", "03_sft.ipynb")
    report = WebDriverWait(browser, 60, poll_frequency=0.5).until(  # every saved output drawn, images decoded
        lambda d: (r := page_report(d)) and len(r["images"]) == images and r["tables"] == tables
        and all(w > 0 for w, _ in r["images"]) and r)
    shot = screenshot(browser, run_dir / "screenshots" / "03_sft.png")

    no_errors(report)
    assert all(w > 300 and h > 100 for w, h in report["images"]), report["images"]  # charts, not icons
    assert shot.stat().st_size > 10_000
    assert not lab.guard_log(), lab.guard_log()
