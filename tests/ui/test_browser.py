"""The dashboard in a real browser: Debian's headless Chromium, driven by Selenium through
chromedriver, against the real ``kleio ui``.

The trials page lists and sorts a sweep; a trial's page shows its configuration, diff
and output; a plot of two trials draws both; a running trial's curve and output grow
without a reload; a trial full of ``<script>`` and ``onerror=`` runs nothing. The pages
are saved as screenshots: into ``KLEIO_SCREENSHOTS`` when set (the guide's pictures are
made so: ``KLEIO_SCREENSHOTS=docs/images``), else into the test's folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.test_after_a_sweep import loss
from tests.helpers import start_kleio, text, trial_id_in
from tests.ui.conftest import IMAGE, SCRIPT, SWEEP, kleio_ui

pytestmark = pytest.mark.slow  # a real browser

#: Chromium's flags for a headless run on a closed network, in a fresh profile.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1200,820",
    "--force-device-scale-factor=1",
    "--hide-scrollbars",
)
#: Seconds a page may take to draw (the machine is shared).
PATIENCE = 30
#: A screenshot for the guide stays small.
SCREENSHOT_LIMIT = 400 * 1024


def _chromium() -> tuple[str, str]:
    """Paths of Debian's chromium and chromedriver, installed first when missing and
    this test run may (as root, with apt-get: a fresh CI machine)."""
    found = shutil.which("chromium"), shutil.which("chromedriver")
    if not all(found) and shutil.which("apt-get") and os.geteuid() == 0:
        quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=quiet, capture_output=True, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
            env=quiet,
            capture_output=True,
            timeout=1200,
        )
        found = shutil.which("chromium"), shutil.which("chromedriver")
    if not all(found):
        pytest.fail(
            "the browser tests need Debian's chromium and chromium-driver: "
            "apt-get install chromium chromium-driver"
        )
    return found  # type: ignore[return-value]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(PATIENCE)
    # Before any page's script: alert, confirm and prompt write down who called them.
    driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": "window.__alerts = [];"
            "for (const name of ['alert', 'confirm', 'prompt']) {"
            "  window[name] = (message) => { window.__alerts.push(name + ': ' + message); };"
            "}"
        },
    )
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def dashboard(sqlite_journal):
    with kleio_ui(sqlite_journal.env, sqlite_journal.project) as running:
        yield running.url


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("KLEIO_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    return tmp_path_factory.mktemp("screenshots")


def _open(browser, url: str) -> None:
    """Open a page of the dashboard and wait until it is drawn."""
    browser.get("about:blank")
    browser.get(url)
    _wait(browser, "document.body.dataset.ready !== undefined")


def _wait(browser, condition: str, timeout: float = PATIENCE):
    """Wait until the JavaScript ``condition`` holds; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = browser.execute_script(f"return ({condition});")
        if value:
            return value
        assert time.monotonic() < deadline, f"never true: {condition}"
        time.sleep(0.1)


def _save(browser, screenshots: Path, name: str, hidden: Path) -> Path:
    """A screenshot of the page, the test's temporary folder ``hidden`` shown as a
    user's (the pictures go in the guide)."""
    browser.execute_script(
        """
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        while (walker.nextNode()) {
          const node = walker.currentNode;
          if (node.nodeValue.includes(arguments[0])) {
            node.nodeValue = node.nodeValue.split(arguments[0]).join('/home/me');
          }
        }
        """,
        str(hidden),
    )
    path = screenshots / name
    browser.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert 10_000 < path.stat().st_size < SCREENSHOT_LIMIT, path.stat().st_size
    return path


def _texts(browser, selector: str) -> list[str]:
    return browser.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((node) => node.textContent);",
        selector,
    )


def test_the_trials_page_lists_the_sweep_and_sorts_by_loss_min(
    browser, dashboard, sqlite_journal, screenshots
):
    from selenium.webdriver.common.by import By

    _open(browser, dashboard)
    assert _wait(browser, "document.querySelectorAll('#trials tbody tr').length") == len(
        sqlite_journal.ids
    )
    form = browser.find_element(By.ID, "filters")
    form.find_element(By.NAME, "tags").send_keys("sweep")
    form.find_element(By.NAME, "sort").send_keys("loss:min")
    form.find_element(By.NAME, "keys").send_keys("loss:min,acc:max")
    form.submit()
    _wait(browser, "location.hash.includes('sort=loss')")
    _wait(browser, "document.querySelectorAll('#trials tbody tr').length === 6")
    ids = browser.execute_script(
        "return [...document.querySelectorAll('#trials tbody tr')].map((r) => r.dataset.id);"
    )
    expected = sorted(SWEEP, key=lambda name: loss(*SWEEP[name], epoch=3))
    assert ids == [sqlite_journal.ids[name] for name in expected]
    shown = _texts(browser, "#trials td[data-key='loss:min']")
    assert shown[0] == f"{loss(*SWEEP[expected[0]], epoch=3):g} *"  # the best, marked
    assert [float(value.rstrip(" *")) for value in shown] == sorted(
        float(value.rstrip(" *")) for value in shown
    )
    headers = _texts(browser, "#trials th")
    assert headers[1:] == ["ID", "status", "lr", "batch", "loss:min ▲", "acc:max", "run time"]
    _save(browser, screenshots, "dashboard-trials.png", sqlite_journal.project.parent)
    # A click on the sorted column's header sorts the other way.
    browser.find_element(By.XPATH, "//th[starts-with(., 'loss:min')]").click()
    _wait(browser, "location.hash.includes('sort=-loss')")
    _wait(
        browser,
        f"document.querySelector('#trials tbody tr')?.dataset.id === "
        f"'{sqlite_journal.ids[expected[-1]]}'",
    )


def test_a_trial_page_shows_its_configuration_diff_and_output(
    browser, dashboard, sqlite_journal, screenshots
):
    trial = sqlite_journal.ids["h"]
    _open(browser, f"{dashboard}#/trial/{trial[:7]}")
    assert _texts(browser, "#trial-id") == [trial[:7]]
    assert _texts(browser, "#command") == ["python train.py --lr 0.03"]
    assert _texts(browser, "#configuration tbody td") == ["lr", "0.03", "float"]
    diff = _texts(browser, "#diff")[0]
    assert "+# tuned by hand, not committed" in diff
    assert _texts(browser, "#diff .add") == ["+# tuned by hand, not committed"]
    _wait(browser, "document.querySelector('#output')?.textContent.includes('trained')")
    output = _texts(browser, "#output")[0]
    assert output.startswith("epoch 0 loss 0.332\nepoch 1 loss 0.182\n"), output
    assert "a warning on stderr" not in output
    _wait(browser, "document.querySelector('#trial-chart canvas') !== null")
    # Resource use: CPU first, memory and the GPU a click away.
    _wait(browser, "document.querySelector('#usage-chart canvas') !== null")
    assert browser.execute_script("return document.querySelector('#usage').hidden;") is False
    boxes = browser.execute_script(
        "return [...document.querySelectorAll('#usage-keys input')]"
        ".map((box) => [box.dataset.key, box.checked]);"
    )
    assert ["cpu_percent", True] in boxes and ["gpu0_utilization", False] in boxes
    assert _texts(browser, "#artifacts a") == ["model.bin"]
    browser.execute_script("document.querySelector('#with-stderr').click();")
    _wait(browser, "document.querySelector('#output .stderr') !== null")
    assert "".join(_texts(browser, "#output .stderr")) == "a warning on stderr\n"
    browser.set_window_size(1200, 1500)  # the chart and the output too
    try:
        browser.execute_script("window.scrollTo(0, 0);")
        _save(browser, screenshots, "dashboard-trial.png", sqlite_journal.project.parent)
    finally:
        browser.set_window_size(1200, 820)


def _pixels_of(browser, selector: str, colours: list[str]) -> list[int]:
    """How many pixels of the chart's canvas are near each colour (``#rrggbb``)."""
    return browser.execute_script(
        """
        const canvas = document.querySelector(arguments[0]);
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        return arguments[1].map((hex) => {
          const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
          let count = 0;
          for (let i = 0; i < data.length; i += 4) {
            if (data[i + 3] > 200 && Math.abs(data[i] - want[0]) < 24
                && Math.abs(data[i + 1] - want[1]) < 24 && Math.abs(data[i + 2] - want[2]) < 24) {
              count += 1;
            }
          }
          return count;
        });
        """,
        selector,
        colours,
    )


def test_the_plot_of_two_trials_draws_both_curves(browser, dashboard, sqlite_journal, screenshots):
    pair = f"{sqlite_journal.ids['a']},{sqlite_journal.ids['b']}"
    _open(browser, f"{dashboard}#/plot?trials={pair}&y=loss&x=epoch")
    _wait(browser, "document.querySelector('#plot-chart canvas') !== null")
    assert _texts(browser, "#plot-chart")[0].count("lr=") == 2  # the legend
    blue, orange, green = _pixels_of(
        browser, "#plot-chart canvas", ["#1f77b4", "#ff7f0e", "#2ca02c"]
    )
    assert blue > 200 and orange > 200, (blue, orange)
    assert green == 0  # a third curve would be green
    legend = _texts(browser, "#plot-chart .u-legend .u-label")
    assert legend == [
        "epoch",
        f"{sqlite_journal.ids['a'][:7]} lr=0.1",
        f"{sqlite_journal.ids['b'][:7]} lr=0.01",
    ]
    # Log scale redraws in place.
    browser.execute_script("document.querySelector('#log-scale').click();")
    _wait(browser, "location.hash.includes('log=1')")
    # The guide's picture: the whole sweep.
    sweep = ",".join(sqlite_journal.ids[name] for name in SWEEP)
    _open(browser, f"{dashboard}#/plot?trials={sweep}&y=loss&x=epoch")
    _wait(browser, "document.querySelector('#plot-chart')?.dataset.curves === '6'")
    _save(browser, screenshots, "dashboard-plot.png", sqlite_journal.project.parent)


def test_a_running_trials_curve_and_output_grow_without_a_reload(browser, tmp_path):
    journal = _make_running_journal(tmp_path)
    stop = tmp_path / "stop"
    process = start_kleio(
        journal.env, journal.project, "python", "train.py", "--lr", "1", "--until", str(stop)
    )
    try:
        trial = _reserved(process)
        with kleio_ui(journal.env, journal.project) as running:
            _open(browser, f"{running.url}#/trial/{trial}")
            _wait(browser, "Number(document.querySelector('#trial-chart')?.dataset.points) > 0")
            browser.execute_script("window.__same_page = true;")
            points = int(_wait(browser, "document.querySelector('#trial-chart')?.dataset.points"))
            lines = _texts(browser, "#output")[0].count("\n")
            _wait(
                browser,
                f"Number(document.querySelector('#trial-chart')?.dataset.points) >= {points + 5}",
            )
            _wait(
                browser,
                f"document.querySelector('#output')?.textContent.split('\\n').length > {lines + 5}",
            )
            assert browser.execute_script("return window.__same_page === true;")
    finally:
        stop.touch()
        process.wait(60)
    assert process.returncode == 0, text(process.stderr.read())


def _make_running_journal(tmp_path):
    """A journal of its own (the shared one stays as the other tests know it)."""
    from tests.cli.test_after_a_sweep import Sweep
    from tests.conftest import commit, git
    from tests.helpers import clean_environment
    from tests.ui.conftest import TRAIN

    project = tmp_path / "live"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    (project / "train.py").write_text(TRAIN)
    commit(project, "first")
    return Sweep("sqlite", project, clean_environment(tmp_path / "home"))


def _reserved(process) -> str:
    """The trial id a started ``kleio`` prints first."""
    said = b""
    deadline = time.monotonic() + PATIENCE
    while b"trial reserved with id: " not in said or not said.endswith(b"\n"):
        assert time.monotonic() < deadline and process.poll() is None, said
        said += os.read(process.stderr.fileno(), 4096)
    return trial_id_in(said)


def test_a_hostile_trial_runs_no_script_on_any_page(browser, dashboard, sqlite_journal):
    hostile, branch = sqlite_journal.ids["hostile"], sqlite_journal.ids["g"]
    pages = [
        "#/",
        "#/?all=1&where=tags~hostile",
        f"#/trial/{hostile}",
        f"#/trial/{branch}",
        f"#/plot?trials={hostile},{sqlite_journal.ids['a']}&y=loss",
    ]
    for page in pages:
        _open(browser, dashboard + page)
        if "trial/" in page:
            _wait(browser, "!document.querySelector('#output')?.textContent.includes('Loading')")
            _wait(browser, "document.querySelector('#output')?.textContent.length > 0")
        time.sleep(0.5)  # an image that fails to load would fire onerror by now
        assert browser.execute_script("return window.__alerts;") == [], page
        assert browser.execute_script("return document.querySelectorAll('img').length;") == 0
        sources = browser.execute_script(
            "return [...document.scripts].map((s) => s.getAttribute('src'));"
        )
        assert sources == ["/static/uPlot.iife.min.js", "/static/app.js"], page
        handlers = browser.execute_script(
            "return [...document.querySelectorAll('*')].filter((node) => "
            "[...node.attributes].some((a) => a.name.startsWith('on'))).length;"
        )
        assert handlers == 0, page
        shown = browser.execute_script("return document.body.innerText;")
        if page != "#/":
            assert SCRIPT in shown or IMAGE in shown, page
    # What the trial's page shows of it, as text: command, configuration, tag, output,
    # artifact name, note and diff.
    _open(browser, f"{dashboard}#/trial/{hostile}")
    _wait(browser, "document.querySelector('#output')?.textContent.includes('trained')")
    shown = browser.execute_script("return document.body.innerText;")
    for place in (
        _texts(browser, "#command")[0],
        _texts(browser, "#configuration")[0],
        _texts(browser, ".tag")[-1],
        _texts(browser, "#output")[0],
        _texts(browser, "#notes")[0],
        _texts(browser, "#diff")[0],
    ):
        assert SCRIPT in place or IMAGE in place, place
    assert f"{IMAGE}.txt" in _texts(browser, "#artifacts a")
    assert "hunter2" not in shown


def test_the_alert_trap_sees_a_script_that_runs(browser, dashboard):
    """The checks above would see a script that ran: this one runs one on purpose."""
    _open(browser, dashboard)
    browser.execute_script("alert('on purpose');")
    assert browser.execute_script("return window.__alerts;") == ["alert: on purpose"]
