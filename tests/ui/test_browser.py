"""The dashboard in a real browser: Debian's headless Chromium, driven by Selenium through
chromedriver, against the real ``kleio ui``.

The trials page lists and sorts a sweep; its first view at 1,400 x 900 shows every
statistic and the swept keys of a sweep of a script with 15 unchanging defaults, keeps the
id column in view when the table scrolls sideways, and hides the columns chosen; a trial's
page shows its configuration (the defaults its parser filled in marked), diff, output and
times, each with its zone; a plot of two trials draws both; a running trial's curve and
output grow without a reload; a trial full of ``<script>`` and ``onerror=`` runs nothing.
The pages are saved as screenshots: into ``KLEIO_SCREENSHOTS`` when set (the guide's
pictures are made so: ``KLEIO_SCREENSHOTS=docs/images``), else into the test's folder.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.cli.test_after_a_sweep import loss
from tests.helpers import start_kleio, text, trial_id_in
from tests.ui.conftest import IMAGE, IMAGE_STEPS, SCRIPT, SWEEP, kleio_ui

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
    # The command line's value, then the defaults the script's parser filled in, marked.
    assert _texts(browser, "#configuration tbody td")[:6] == [
        "lr", "0.03", "float", "batch", "32 (default)", "int",
    ]  # fmt: skip
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


def test_two_keys_of_two_trials_are_drawn_in_two_colours_against_the_epoch(
    browser, dashboard, sqlite_journal
):
    pair = f"{sqlite_journal.ids['a']},{sqlite_journal.ids['b']}"
    _open(browser, f"{dashboard}#/plot?trials={pair}&y=loss,acc")  # no x: the server's
    _wait(browser, "document.querySelector('#plot-chart')?.dataset.curves === '4'")
    assert browser.execute_script("return document.querySelector('#x-key').value") == "epoch"
    blue, orange, green, red = _pixels_of(
        browser, "#plot-chart canvas", ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
    )
    assert blue > 100 and orange > 100, (blue, orange)
    assert green == red == 0  # a trial's acc is in its colour, dashed, as kleio plot -o draws it
    assert "x=" not in browser.execute_script("return location.hash")


#: A script as researchers write them: 18 options, each with a default; a sweep changes 3.
WIDE = """\
import argparse
from kleio.client.logger import kleio_logger as log

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--batch-size", type=int, default=128)
parser.add_argument("--augment", default="none")
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--optimizer", default="sgd")
parser.add_argument("--momentum", type=float, default=0.9)
parser.add_argument("--weight-decay", type=float, default=0.0005)
parser.add_argument("--warmup-epochs", type=int, default=5)
parser.add_argument("--dropout", type=float, default=0.1)
parser.add_argument("--seed", type=int, default=1234)
parser.add_argument("--data", default="/datasets/imagenet/ILSVRC2012/train")
parser.add_argument("--model", default="resnet50")
parser.add_argument("--scheduler", default="cosine")
parser.add_argument("--gradient-clip", type=float, default=1.0)
parser.add_argument("--workers", type=int, default=8)
parser.add_argument("--precision", default="bf16-mixed")
parser.add_argument("--checkpoint-dir", default="/scratch/me/checkpoints/imagenet-resnet50")
parser.add_argument("--log-every", type=int, default=50)
args = parser.parse_args()
for epoch in range(args.epochs):
    loss = args.lr * 10 / (epoch + 1) + args.batch_size / 10000
    log.log_statistic(
        epoch=epoch, loss=loss, acc=1 - loss / 10, val_loss=loss * 1.1,
        val_acc=1 - loss / 9, learning_rate=args.lr / (epoch + 1),
        grad_norm=3.14159 / (epoch + 1), samples_per_second=1234.5 + epoch,
    )
log.log_artifact("model.bin", b"weights")
"""
#: The columns of what WIDE logs: the last value of each key, in the order kleio compare
#: lists them (logged together: by name).
WIDE_STATISTICS = [
    f"{key}:last"
    for key in sorted(
        ["epoch", "loss", "acc", "val_loss", "val_acc", "learning_rate", "grad_norm",
         "samples_per_second"]
    )
]  # fmt: skip
#: The sweep of WIDE: 10 trials, lr x batch size, two ways of augmenting (long values).
AUGMENTS = [
    "randaugment(n=2, m=9) + mixup(alpha=0.2) + cutmix(alpha=1.0)",
    "autoaugment(policy=imagenet) + random-erasing(p=0.25) + label-smoothing(0.1)",
]
WIDE_SWEEP = [
    (lr, batch, AUGMENTS[0 if batch == 64 else 1])
    for lr in (0.1, 0.05, 0.02, 0.01, 0.005)
    for batch in (64, 256)
]
#: The window a researcher's laptop gives the dashboard.
FIRST_VIEW = (1400, 900)


@pytest.fixture(scope="module")
def wide_sweep(tmp_path_factory):
    """10 trials of WIDE, and one that broke before its parser resolved anything (a typo
    in an option's name): it holds 2 configuration keys where the others hold 18."""
    from tests.cli.test_after_a_sweep import Sweep
    from tests.conftest import commit, git
    from tests.helpers import clean_environment

    folder = tmp_path_factory.mktemp("wide")
    project = folder / "imagenet"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    (project / "train.py").write_text(WIDE)
    commit(project, "first")
    journal = Sweep("sqlite", project, clean_environment(folder / "home"))
    for number, (lr, batch, augment) in enumerate(WIDE_SWEEP):
        arguments = ["--lr", str(lr), "--batch-size", str(batch), "--augment", augment]
        result = journal.kleio("run", "--tags", "sweep", "python", "train.py", *arguments)
        assert result.returncode == 0, text(result.stderr)
        journal.ids[str(number)] = trial_id_in(result.stderr)
    result = journal.kleio("run", "--tags", "sweep", "python", "train.py", "--lr", "0.3",
                           "--optimiser", "adam")  # fmt: skip
    assert result.returncode == 2, text(result.stderr)
    journal.ids["broken"] = trial_id_in(result.stderr)
    return journal


@pytest.fixture
def first_view(browser):
    """The browser with a page of 1,400 x 900 pixels (the window's size less its
    frame would be less: headless Chromium counts a frame too)."""
    width, height = FIRST_VIEW
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        yield browser
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def _boxes(browser, selector: str) -> list[dict]:
    """Text and bounding box of each node ``selector`` finds, and the viewport's size."""
    return browser.execute_script(
        """
        return [...document.querySelectorAll(arguments[0])].map((node) => {
          const box = node.getBoundingClientRect();
          return {text: node.textContent, key: node.dataset.key, left: box.left,
                  right: box.right, top: box.top, bottom: box.bottom,
                  width: window.innerWidth, height: window.innerHeight};
        });
        """,
        selector,
    )


def test_the_first_view_of_a_sweep_shows_every_statistic_and_the_swept_keys(
    first_view, wide_sweep, screenshots
):
    browser = first_view
    with kleio_ui(wide_sweep.env, wide_sweep.project) as running:
        _open(browser, running.url)
        assert browser.execute_script("return [window.innerWidth, window.innerHeight];") == [
            *FIRST_VIEW
        ]
        _wait(browser, "document.querySelectorAll('#trials tbody tr').length === 11")
        headers = _texts(browser, "#trials thead th")
        # Id and status, the keys the sweep changed, the statistics, then the run time:
        # none of the 15 defaults no trial changed.
        assert headers[1:] == [
            "ID", "status", "lr", "batch-size", "augment", *WIDE_STATISTICS, "run time",
        ]  # fmt: skip
        for box in _boxes(browser, "#trials thead th"):
            assert box["left"] >= 0 and box["right"] <= box["width"], box
            assert box["top"] >= 0 and box["bottom"] <= box["height"], box
        # The statistics' values are in view too, the broken trial's row with blanks.
        for box in _boxes(browser, "#trials tbody tr:first-child td"):
            assert box["right"] <= box["width"], box
        broken = wide_sweep.ids["broken"]
        assert _texts(browser, f"#trials tr[data-id='{broken}'] td[data-key='loss:last']") == [""]
        # A long value is cut to its column, and whole in its title.
        cells = browser.execute_script(
            "return [...document.querySelectorAll(\"#trials td[data-key='augment']\")]"
            ".map((td) => [td.title, td.textContent, td.scrollWidth > td.clientWidth,"
            " td.getBoundingClientRect().width]);"
        )
        assert [title for title, *_ in cells].count("") == 1  # the broken trial's
        for title, shown, cut, width in cells:
            assert shown == title and (cut or not title), (title, width)
            assert title in AUGMENTS or not title
        _save(browser, screenshots, "dashboard-first-view.png", wide_sweep.project.parent)


def test_the_id_column_stays_in_view_when_the_table_scrolls_sideways(
    first_view, wide_sweep, tmp_path
):
    browser = first_view
    with kleio_ui(wide_sweep.env, wide_sweep.project) as running:
        _open(browser, f"{running.url}#/?all=1")  # every configuration key: 18 more columns
        _wait(browser, "document.querySelectorAll('#trials tbody tr').length === 11")
        assert "momentum" in _texts(browser, "#trials thead th")
        scrolled = browser.execute_script(
            """
            const box = document.querySelector('#trials .scroller');
            box.scrollLeft = box.scrollWidth;
            return [box.scrollLeft, box.scrollWidth, box.clientWidth];
            """
        )
        assert scrolled[0] > 500 and scrolled[1] > scrolled[2], scrolled
        time.sleep(0.2)
        ids = _boxes(browser, "#trials tbody td.id")
        assert len(ids) == 11
        for box in ids:
            assert 0 <= box["left"] < 100 and box["text"] in {
                i[:7] for i in wide_sweep.ids.values()
            }
        # What lies under the id cells is hidden by them, not drawn over them.
        covered = browser.execute_script(
            """
            const cell = document.querySelector('#trials tbody td.id');
            const box = cell.getBoundingClientRect();
            const found = document.elementFromPoint(box.left + 5, box.top + box.height / 2);
            return cell.contains(found);
            """
        )
        assert covered
        _save(browser, tmp_path, "dashboard-scrolled.png", wide_sweep.project.parent)


def test_the_column_chooser_hides_a_column_and_the_address_remembers_it(first_view, wide_sweep):
    browser = first_view
    with kleio_ui(wide_sweep.env, wide_sweep.project) as running:
        _open(browser, running.url)
        _wait(browser, "document.querySelectorAll('#trials tbody tr').length === 11")
        browser.execute_script("document.querySelector('#columns summary').click();")
        choices = browser.execute_script(
            "return [...document.querySelectorAll('#columns input')]"
            ".map((box) => [box.dataset.column, box.checked]);"
        )
        assert choices == [[key, True] for key in ["lr", "batch-size", "augment", *WIDE_STATISTICS]]
        browser.execute_script(
            "document.querySelector(\"#columns input[data-column='grad_norm:last']\").click();"
        )
        _wait(browser, "location.hash.includes('hide=grad_norm')")
        _wait(browser, "!document.querySelector(\"#trials td[data-key='grad_norm:last']\")")
        assert "grad_norm:last" not in _texts(browser, "#trials thead th")
        # The address keeps it: opened again (or shared), the column stays hidden.
        address = browser.current_url
        _open(browser, address)
        _wait(browser, "document.querySelectorAll('#trials tbody tr').length === 11")
        assert "grad_norm:last" not in _texts(browser, "#trials thead th")
        assert "val_acc:last" in _texts(browser, "#trials thead th")
        # A filter applied keeps the choice too.
        browser.execute_script("document.querySelector('#filters button[type=submit]').click();")
        _wait(browser, "document.body.dataset.ready !== undefined")
        assert "hide=grad_norm" in browser.current_url
        browser.execute_script("document.querySelector('#columns summary').click();")
        browser.execute_script(
            "document.querySelector(\"#columns input[data-column='grad_norm:last']\").click();"
        )
        _wait(browser, "!location.hash.includes('hide=')")
        _wait(browser, "document.querySelector(\"#trials td[data-key='grad_norm:last']\") !== null")


def test_a_trial_page_shows_the_defaults_marked_as_kleio_info_does(
    first_view, wide_sweep, tmp_path
):
    browser = first_view
    trial = wide_sweep.ids["0"]
    with kleio_ui(wide_sweep.env, wide_sweep.project) as running:
        _open(browser, f"{running.url}#/trial/{trial[:7]}")
        rows = browser.execute_script(
            "return [...document.querySelectorAll('#configuration tbody tr')]"
            ".map((tr) => [...tr.cells].map((td) => td.textContent));"
        )
        # The command line's values, then the 15 defaults the parser filled in, marked.
        assert rows[:3] == [
            ["lr", "0.1", "float"],
            ["batch-size", "64", "int"],
            ["augment", AUGMENTS[0], "text"],
        ]
        assert ["momentum", "0.9 (default)", "float"] in rows
        assert ["data", "/datasets/imagenet/ILSVRC2012/train (default)", "text"] in rows
        assert len(rows) == 18 and all(row[1].endswith(" (default)") for row in rows[3:])
        _save(browser, tmp_path, "dashboard-defaults.png", wide_sweep.project.parent)
        # The broken trial's page says what it had: its command line's values only.
        _open(browser, f"{running.url}#/trial/{wide_sweep.ids['broken']}")
        assert _texts(browser, "#configuration tbody td") == [
            "lr", "0.3", "float", "optimiser", "adam", "text",
        ]  # fmt: skip


def test_every_time_on_a_trial_page_names_its_zone(first_view, wide_sweep):
    browser = first_view
    trial = wide_sweep.ids["0"]
    with kleio_ui(wide_sweep.env, wide_sweep.project) as running:
        _open(browser, f"{running.url}#/trial/{trial[:7]}")
        zoned = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
        # When it was created, when its execution started, when it logged its artifact.
        times = _texts(browser, "time")
        assert len(times) == 3 and all(zoned.fullmatch(t) for t in times), times
        # In the browser's own zone, named.
        browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Tokyo"})
        try:
            browser.execute_script(
                "const zone = document.querySelector('#zone');"
                "zone.value = 'local'; zone.dispatchEvent(new Event('change'));"
            )
            _wait(browser, "document.querySelector('time')?.textContent.endsWith('Asia/Tokyo')")
            local = _texts(browser, "time")
            assert all(t.endswith(" Asia/Tokyo") for t in local), local
            utc = datetime.datetime.strptime(times[0][: -len(" UTC")], "%Y-%m-%d %H:%M:%S")
            shifted = datetime.datetime.strptime(
                local[0][: -len(" Asia/Tokyo")], "%Y-%m-%d %H:%M:%S"
            )
            assert shifted - utc == datetime.timedelta(hours=9)
            # Kept for the next page.
            _open(browser, f"{running.url}#/trial/{trial[:7]}")
            assert _texts(browser, "time")[0].endswith(" Asia/Tokyo")
        finally:
            browser.execute_script("localStorage.clear();")
            browser.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": ""})


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


@pytest.fixture(scope="module")
def image_dashboard(image_journal):
    with kleio_ui(image_journal.env, image_journal.project) as running:
        yield running.url


def _gallery(browser, name: str) -> dict:
    """What the gallery of the image ``name`` shows: the step of its image (as the page
    marks it, and as the loaded image's width says: DRAW's images are as many pixels
    wider as their step), its caption, and whether its slider shows."""
    return browser.execute_script(
        """
        const gallery = [...document.querySelectorAll('#images figure.gallery')]
          .find((node) => node.dataset.name === arguments[0]);
        const img = gallery.querySelector('img');
        return {step: img.dataset.step, complete: img.complete, natural: img.naturalWidth,
                caption: gallery.querySelector('.image-step').textContent,
                name: gallery.querySelector('.image-name').textContent,
                slider: !gallery.querySelector('input[type=range]').hidden};
        """,
        name,
    )


def _slide(browser, name: str, index: int) -> None:
    """Move the slider of ``name``'s gallery to ``index``, as a drag does (input events)."""
    browser.execute_script(
        """
        const gallery = [...document.querySelectorAll('#images figure.gallery')]
          .find((node) => node.dataset.name === arguments[0]);
        const slider = gallery.querySelector('input[type=range]');
        slider.value = String(arguments[1]);
        slider.dispatchEvent(new Event('input', {bubbles: true}));
        """,
        name,
        index,
    )


def test_a_trials_images_show_as_a_gallery_per_name_with_a_slider_over_the_steps(
    browser, image_dashboard, image_journal, screenshots
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _open(browser, f"{image_dashboard}#/trial/{image_journal.ids['images']}")
    assert _texts(browser, "#images .image-name") == ["masks", "samples"]
    widths = {"samples": 120, "masks": 64}  # at step 0
    last = IMAGE_STEPS[-1]
    for name, width in widths.items():  # the last step first
        _wait(browser, f"document.querySelector('#images [data-name={name}] img').naturalWidth")
        shown = _gallery(browser, name)
        assert shown["step"] == str(last) and shown["natural"] == width + last, shown
        assert shown["caption"] == f"step {last} (3 of 3)" and shown["slider"]
    for step in IMAGE_STEPS:
        _slide(browser, "samples", step)
        _wait(
            browser,
            "document.querySelector('#images [data-name=samples] img').naturalWidth === "
            f"{widths['samples'] + step}",
        )
        shown = _gallery(browser, "samples")
        assert shown["step"] == str(step) and shown["caption"] == f"step {step} ({step + 1} of 3)"
        assert _gallery(browser, "masks")["step"] == str(last)  # each gallery its own
    # The keyboard moves it too, as any slider.
    slider = browser.find_element(By.CSS_SELECTOR, "#images [data-name=masks] input")
    slider.send_keys(Keys.LEFT)
    _wait(browser, "document.querySelector('#images [data-name=masks] img').naturalWidth === 65")
    meta = _texts(browser, "#images [data-name=samples] .image-meta")[0]
    assert meta.startswith("122×90 RGB, 23") and meta.endswith(" UTC · loss=0.333"), meta
    width, height = FIRST_VIEW
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
    try:
        _slide(browser, "samples", 1)
        _wait(
            browser,
            "document.querySelector('#images [data-name=samples] img').naturalWidth === 121",
        )
        browser.execute_script("document.querySelector('#images').scrollIntoView();")
        browser.execute_script("window.scrollBy(0, -60);")
        _save(browser, screenshots, "dashboard-images.png", image_journal.project.parent)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_an_image_named_with_markup_is_shown_as_text_and_runs_nothing(
    browser, image_dashboard, image_journal
):
    _open(browser, f"{image_dashboard}#/trial/{image_journal.ids['hostile']}")
    # Its gallery, and that of an HTML page whose metadata claim it is an image.
    assert _texts(browser, "#images .image-name") == sorted([IMAGE, "page.png"])
    _wait(browser, "[...document.querySelectorAll('#images img')].every((i) => i.complete)")
    time.sleep(0.5)  # an image that fails to load would fire onerror by now
    assert browser.execute_script("return window.__alerts;") == []
    assert _gallery(browser, IMAGE)["natural"] == 16
    assert _gallery(browser, "page.png")["natural"] == 0  # not an image: not drawn
    assert not _gallery(browser, IMAGE)["slider"]  # one image: nothing to slide over
    handlers = browser.execute_script(
        "return [...document.querySelectorAll('*')].filter((node) => "
        "[...node.attributes].some((a) => a.name.startsWith('on'))).length;"
    )
    assert handlers == 0
    # Exactly the gallery's images: nothing the name holds became an element.
    assert browser.execute_script("return document.querySelectorAll('img').length;") == 2


def test_the_alert_trap_sees_a_script_that_runs(browser, dashboard):
    """The checks above would see a script that ran: this one runs one on purpose."""
    _open(browser, dashboard)
    browser.execute_script("alert('on purpose');")
    assert browser.execute_script("return window.__alerts;") == ["alert: on purpose"]


#: A page of another site, open in the same browser as the dashboard: it loads the
#: dashboard's trials as an image (with a pattern made to backtrack) and as a fetch.
OTHER_SITE = """<!doctype html><title>other</title>
<img src="{dashboard}/api/trials?where=command~(x%2Bx%2B)%2By"
     onload="document.title += ' image-loaded'" onerror="document.title += ' image-refused'">
<script>
fetch("{dashboard}/api/trials", {{credentials: "include"}})
  .then((r) => r.text()).then((t) => {{ document.title += " read " + t.length; }})
  .catch(() => {{ document.title += " fetch-refused"; }});
</script>"""


def test_a_page_of_another_site_reads_nothing_from_an_open_dashboard(
    browser, sqlite_journal, tmp_path, monkeypatch
):
    """The user has the dashboard open (its cookie is set), then visits another site
    whose page asks the dashboard for trials: the dashboard does no work for it."""
    import functools
    import http.server
    import threading

    from kleio.ui.api import Dashboard
    from tests.ui.conftest import TOKEN, serving

    asked = []
    original = Dashboard.trials
    monkeypatch.setattr(
        Dashboard, "trials", lambda self, params: asked.append(params) or original(self, params)
    )
    with sqlite_journal.store() as store, serving(store) as client:
        _open(browser, f"{client.url}/?token={TOKEN}#/")
        _wait(browser, "document.querySelectorAll('#trials tbody tr').length > 0")
        opened = len(asked)
        assert opened >= 1
        (tmp_path / "index.html").write_text(OTHER_SITE.format(dashboard=client.url))
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=tmp_path)
        other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=other.serve_forever, daemon=True).start()
        try:
            # localhost is another site than 127.0.0.1, as any domain would be.
            browser.get(f"http://localhost:{other.server_address[1]}/index.html")
            _wait(
                browser,
                "document.title.includes('image-') && document.title.includes('fe')"
                " || document.title.includes('read')",
            )
            title = browser.title
        finally:
            other.shutdown()
            other.server_close()
    assert "image-refused" in title and "fetch-refused" in title, title
    assert len(asked) == opened, asked[opened:]


def test_the_dashboard_says_why_it_lists_nothing_and_shows_names_and_edited_notes(
    browser, kleio, env, project
):
    with kleio_ui(env, project) as running:
        _open(browser, running.url)
        said = _wait(browser, "document.querySelector('#nothing')?.textContent")
        assert said == "No trials yet: run `kleio python train.py` to make one.", said
    ran = trial_id_in(kleio("--name", "baseline", "python", "train.py").stderr)
    assert kleio("python", "train.py", "--lr", "0.5").returncode == 0
    assert kleio("note", "baseline", "frist try").returncode == 0
    assert kleio("note", "baseline", "--edit", "1", "first try").returncode == 0
    with kleio_ui(env, project) as running:
        _open(browser, running.url)
        _wait(browser, "document.querySelectorAll('#trials tbody tr').length === 2")
        assert _texts(browser, "#trials th")[1:3] == ["ID", "name"]
        assert "baseline" in _texts(browser, "#trials tbody td")
        _open(browser, f"{running.url}#/trial/baseline")
        assert _wait(browser, "document.querySelector('#trial-name')?.textContent") == "baseline"
        assert _texts(browser, "#trial-id") == [ran[:7]]
        assert _texts(browser, "#notes li")[0].endswith("first try (edited)")


# -- a study: groups, parallel coordinates, scatter ---------------------------------------

#: The study: 3 learning rates x 3 seeds; each trial's last loss and acc.
STUDY_LRS = (0.001, 0.01, 0.1)
STUDY_SEEDS = (0, 1, 2)
#: A configuration key that is markup (with a value that is, too).
HOSTILE_KEY = '<img src=x onerror=alert("xss-key")>'
#: Keys of the big study: 10 configuration keys that vary (a long name among them).
BIG_KEYS = 10


def _study_loss(lr: float, seed: int) -> float:
    return round(0.5 + abs(math.log10(lr) + 2) * 0.2 + 0.03 * seed, 6)


def _add_trial(store, writer, tag: str, configuration: dict, statistics: list[dict]) -> str:
    from kleio.core.model.trial import TrialSpec, new_trial_document

    argv = ["python", "train.py"]
    for key, value in configuration.items():
        argv += [f"--{key}", str(value)]
    spec = TrialSpec("study", tuple(argv), configuration)
    document = new_trial_document(
        spec, status="completed", tags=[tag], run_time=10.0, study=f"{tag}-study"
    )
    store.create_trial(document)
    store.append_events(
        writer.events(spec.id, [("statistic", 1.0 + i, s) for i, s in enumerate(statistics)])
    )
    return spec.id


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One journal for the study views' tests, written as the store contract writes (no
    run needed for what the dashboard reads): the study (tag ``study``), two trials
    whose configuration key is markup (tag ``hostile``), and 1,000 trials of 10 swept
    keys (tag ``big``); served by the real ``kleio ui``."""
    import random

    from kleio.core.model.catalogue import open_journal
    from kleio.core.model.journal import EventWriter
    from tests.cli.test_after_a_sweep import Sweep
    from tests.helpers import clean_environment

    folder = tmp_path_factory.mktemp("study")
    address = str(folder / "kleio.db")
    writer = EventWriter()
    journal = Sweep("sqlite", folder, clean_environment(folder / "home", KLEIO_DB_ADDRESS=address))
    with open_journal(address, "kleio") as store:
        for lr in STUDY_LRS:
            for seed in STUDY_SEEDS:
                loss_ = _study_loss(lr, seed)
                logged = [
                    {"epoch": 0, "loss": 2 * loss_},
                    {"epoch": 1, "loss": loss_, "acc": 1 - loss_},
                ]
                journal.ids[f"{lr}/{seed}"] = _add_trial(
                    store, writer, "study", {"lr": lr, "seed": seed, "epochs": 2}, logged
                )
        for n, value in enumerate([IMAGE, SCRIPT]):
            journal.ids[f"hostile{n}"] = _add_trial(
                store, writer, "hostile", {HOSTILE_KEY: value, "lr": 0.1 * (n + 1)},
                [{"loss": 0.5 + n}],
            )  # fmt: skip
        pick = random.Random(23)
        for n in range(1000):
            configuration = {
                "lr": 10 ** pick.uniform(-5, -1),
                "batch_size": pick.choice([16, 32, 64, 128, 256]),
                "optimizer": pick.choice(["sgd", "adam", "adamw", "rmsprop"]),
                "dropout": round(pick.uniform(0, 0.5), 3),
                "weight_decay": 10 ** pick.uniform(-6, -2),
                "momentum": pick.choice([0.8, 0.9, 0.95, 0.99]),
                "warmup_epochs": pick.randint(0, 10),
                "layers": pick.choice([18, 34, 50, 101]),
                "width_multiplier_of_the_residual_blocks": pick.choice([0.5, 1.0, 2.0]),
                "seed": n,
            }
            assert len(configuration) == BIG_KEYS
            loss_ = abs(math.log10(configuration["lr"]) + 3) + configuration["dropout"]
            _add_trial(
                store, writer, "big", configuration, [{"loss": loss_, "acc": 1 / (1 + loss_)}]
            )
    with kleio_ui(journal.env, folder) as running:
        journal.url = running.url
        yield journal


def _visible_rows(browser) -> list[str]:
    return browser.execute_script(
        "return [...document.querySelectorAll('#trials tbody tr')]"
        ".filter((tr) => !tr.hidden).map((tr) => tr.dataset.id);"
    )


def _inked(browser, selector: str) -> int:
    """How many pixels of a canvas are drawn (neither transparent nor white)."""
    return browser.execute_script(
        """
        const canvas = document.querySelector(arguments[0]);
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let count = 0;
        for (let i = 0; i < data.length; i += 4) {
          const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
          if (a > 40 && (r < 235 || g < 235 || b < 235)) count += 1;
        }
        return count;
        """,
        selector,
    )


def test_the_study_filter_lists_the_trials_of_one_study(browser, study):
    """The page's study filter (``study=NAME`` in its address) lists that study alone."""
    _open(browser, f"{study.url}#/?study=study-study")
    _wait(browser, "document.querySelectorAll('#trials tbody tr').length > 0")
    expected = {study.ids[f"{lr}/{s}"] for lr in STUDY_LRS for s in STUDY_SEEDS}
    assert set(_visible_rows(browser)) == expected
    shown = browser.execute_script("return document.querySelector('#filters [name=study]').value")
    assert shown == "study-study"


def test_grouping_by_lr_shows_each_groups_n_mean_and_std_as_numpy_gives_them(browser, study):
    import numpy

    _open(browser, f"{study.url}#/?tags=study")
    _wait(browser, "document.querySelectorAll('#trials tbody tr').length === 9")
    browser.execute_script("document.querySelector('#group-by summary').click();")
    browser.execute_script(
        "document.querySelector(\"#group-by input[data-group-key='lr']\").click();"
    )
    _wait(browser, "document.querySelectorAll('#groups tbody tr').length === 3")
    assert _texts(browser, "#groups thead th")[:2] == ["lr", "n"]

    def shown() -> dict[float, tuple]:
        found = browser.execute_script(
            """
            return [...document.querySelectorAll('#groups tbody tr')].map((tr) => [
              tr.querySelector("td[data-key='lr']").textContent,
              tr.querySelector("td[data-key='n']").textContent,
              Number(tr.querySelector("td[data-key='loss:last']").dataset.mean),
              Number(tr.querySelector("td[data-key='loss:last']").dataset.std),
              tr.querySelector("td[data-key='acc:last']").textContent]);
            """
        )
        return {float(lr): (int(n), mean, std, text) for lr, n, mean, std, text in found}

    for groups in ("lr", "*"):  # the key, then every key but the seeds: the same groups
        if groups == "*":
            browser.execute_script("document.querySelector('#group-by summary').click();")
            browser.execute_script("document.querySelector('#group-all').click();")
            _wait(
                browser, "location.hash.includes('group=*') || location.hash.includes('group=%2A')"
            )
            _wait(
                browser, "document.querySelector('#groups h2')?.textContent.startsWith('3 groups')"
            )
            assert _texts(browser, "#groups thead th")[:2] == ["lr", "n"]  # not the seed
        rows = shown()
        assert sorted(rows) == list(STUDY_LRS)
        for lr in STUDY_LRS:
            losses = numpy.array([_study_loss(lr, seed) for seed in STUDY_SEEDS])
            n, mean, std, acc = rows[lr]
            assert n == 3
            assert mean == pytest.approx(numpy.mean(losses), rel=1e-12)
            assert std == pytest.approx(numpy.std(losses), rel=1e-9)  # ddof=0
            assert float(acc.split(" ± ")[0]) == pytest.approx(numpy.mean(1 - losses), rel=1e-3)
    # A click on a statistic's header sorts the groups by its mean, again the other way.
    browser.execute_script("document.querySelector(\"#groups th[data-key='loss:last']\").click();")
    means = [shown_mean for shown_mean in _group_means(browser)]
    assert means == sorted(means) and len(means) == 3
    browser.execute_script("document.querySelector(\"#groups th[data-key='loss:last']\").click();")
    assert _group_means(browser) == sorted(means, reverse=True)
    assert "gsort=-loss" in browser.execute_script("return location.hash;")


def _group_means(browser) -> list[float]:
    return browser.execute_script(
        "return [...document.querySelectorAll(\"#groups td[data-key='loss:last']\")]"
        ".map((td) => Number(td.dataset.mean));"
    )


def test_a_brush_on_the_lr_axis_of_the_parallel_coordinates_keeps_those_trials_only(
    browser, study, screenshots
):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    _open(browser, f"{study.url}#/?tags=study&group=lr&view=parallel,scatter")
    _wait(browser, "document.querySelector('#parallel-canvas')?.dataset.lines === '9'")
    axes = json.loads(
        browser.execute_script("return document.querySelector('#parallel-canvas').dataset.axes;")
    )
    assert [axis["key"] for axis in axes] == ["lr", "seed", "loss:last"]
    assert axes[0]["log"] is True and axes[1]["log"] is False  # lr spans two decades
    assert _inked(browser, "#parallel-canvas") > 2000
    assert _inked(browser, "#scatter-canvas") > 500
    assert (
        browser.execute_script("return document.querySelector('#scatter-canvas').dataset.points;")
        == "9"
    )
    assert (
        browser.execute_script("return document.querySelector('#scatter-canvas').dataset.logX;")
        == "true"
    )
    # Drag along the lr axis over its top fifth: the largest lr only (at the top).
    canvas = browser.find_element(By.ID, "parallel-canvas")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", canvas)
    size = canvas.size
    lr = axes[0]
    span = lr["bottom"] - lr["top"]
    x = lr["x"] - size["width"] / 2  # offsets are from the element's centre
    start, end = lr["top"] - 4 - size["height"] / 2, lr["top"] + span * 0.2 - size["height"] / 2
    ActionChains(browser).move_to_element_with_offset(
        canvas, x, start
    ).click_and_hold().move_by_offset(0, 10).move_by_offset(0, end - start - 10).release().perform()
    _wait(browser, "document.querySelector('#parallel-canvas').dataset.inside === '3'")
    assert sorted(_visible_rows(browser)) == sorted(study.ids[f"0.1/{s}"] for s in STUDY_SEEDS)
    assert "3 inside the brushes" in _texts(browser, "#count")[0]
    browser.execute_script("window.scrollTo(0, 0);")
    _save(browser, screenshots, "dashboard-study.png", study.project)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", canvas)
    # A brush on loss too: the rows inside both.
    loss_axis = axes[2]
    lowest = min(_study_loss(lr, s) for lr in STUDY_LRS for s in STUDY_SEEDS)
    top_loss = max(_study_loss(lr, s) for lr in STUDY_LRS for s in STUDY_SEEDS)
    fraction = (_study_loss(0.1, 1) + _study_loss(0.1, 0)) / 2  # between seed 0 and seed 1
    y_cut = loss_axis["bottom"] - (fraction - lowest) / (top_loss - lowest) * span
    ActionChains(browser).move_to_element_with_offset(
        canvas, loss_axis["x"] - size["width"] / 2, loss_axis["bottom"] + 4 - size["height"] / 2
    ).click_and_hold().move_by_offset(0, -10).move_by_offset(
        0, y_cut - loss_axis["bottom"] - 4 + 10
    ).release().perform()
    _wait(browser, "document.querySelector('#parallel-canvas').dataset.inside === '1'")
    assert _visible_rows(browser) == [study.ids["0.1/0"]]
    # A click on an axis clears its brush; the button clears them all.
    ActionChains(browser).move_to_element_with_offset(
        canvas, loss_axis["x"] - size["width"] / 2, 0
    ).click().perform()
    _wait(browser, "document.querySelector('#parallel-canvas').dataset.inside === '3'")
    browser.execute_script("document.querySelector('#clear-brushes').click();")
    _wait(browser, "document.querySelector('#parallel-canvas').dataset.inside === '9'")
    assert len(_visible_rows(browser)) == 9


def test_a_configuration_key_that_is_markup_is_drawn_as_text_and_runs_nothing(browser, study):
    _open(browser, f"{study.url}#/?tags=hostile&all=1&group=*&view=parallel,scatter&sx=lr")
    _wait(browser, "document.querySelector('#parallel-canvas')?.dataset.lines === '2'")
    _wait(browser, "document.querySelectorAll('#groups tbody tr').length === 2")
    time.sleep(0.5)  # an image that failed to load would have fired onerror by now
    assert browser.execute_script("return window.__alerts;") == []
    assert browser.execute_script("return document.querySelectorAll('img').length;") == 0
    axes = json.loads(
        browser.execute_script("return document.querySelector('#parallel-canvas').dataset.axes;")
    )
    assert HOSTILE_KEY in [axis["key"] for axis in axes]
    assert HOSTILE_KEY in _texts(browser, "#groups thead th")
    assert {IMAGE, SCRIPT} <= set(_texts(browser, "#groups tbody td"))
    assert (
        HOSTILE_KEY
        in _texts(browser, "#group-by label")[-2] + _texts(browser, "#group-by label")[-1]
    )
    handlers = browser.execute_script(
        "return [...document.querySelectorAll('*')].filter((node) => "
        "[...node.attributes].some((a) => a.name.startsWith('on'))).length;"
    )
    assert handlers == 0


def test_a_thousand_trials_of_ten_keys_are_drawn_readable(first_view, study, screenshots):
    browser = first_view
    _open(browser, f"{study.url}#/?tags=big&limit=1000&view=parallel,scatter&sx=lr")
    _wait(browser, "document.querySelector('#parallel-canvas')?.dataset.lines === '1000'", 60)
    canvas = browser.execute_script(
        "const c = document.querySelector('#parallel-canvas');"
        "return {labels: JSON.parse(c.dataset.labels), axes: JSON.parse(c.dataset.axes),"
        " ms: Number(c.dataset.drawMs), width: c.clientWidth};"
    )
    assert len(canvas["axes"]) == BIG_KEYS + 1  # and the statistic
    labels = canvas["labels"]
    for left, right in zip(labels, labels[1:], strict=False):
        assert left["right"] < right["left"], (left, right)  # names never overlap
    assert labels[0]["left"] >= 0 and labels[-1]["right"] <= canvas["width"]
    # A name too long for the room between two axes is cut, whole in the tooltip.
    assert any(label["text"].endswith("…") for label in labels)
    assert _inked(browser, "#parallel-canvas") > 100_000
    # Brushed again and again: how long a draw of 1,000 lines takes here.
    times = browser.execute_script(
        """
        const canvas = document.querySelector('#parallel-canvas');
        const axes = JSON.parse(canvas.dataset.axes), box = canvas.getBoundingClientRect();
        const times = [];
        for (let i = 0; i < 10; i += 1) {
          const axis = axes[i % axes.length], x = box.left + axis.x;
          const fire = (type, y) => (type === 'mousedown' ? canvas : window).dispatchEvent(
            new MouseEvent(type, {clientX: x, clientY: box.top + y, bubbles: true}));
          fire('mousedown', axis.top + 5);
          fire('mousemove', axis.top + 40 + i);
          fire('mouseup', axis.top + 40 + i);
          times.push(Number(canvas.dataset.drawMs));
        }
        document.querySelector('#clear-brushes').click();
        return times;
        """
    )
    print(f"\nparallel coordinates of 1,000 trials x 11 axes: first draw {canvas['ms']} ms, "
          f"redraws after a brush {sorted(times)} ms")  # fmt: skip
    _wait(browser, "document.querySelector('#parallel-canvas').dataset.inside === '1000'")
    _save_large(browser, screenshots, "dashboard-parallel-1000.png")


def _save_large(browser, screenshots: Path, name: str) -> Path:
    """A screenshot to look at (not for the guide, so not held to its size)."""
    path = screenshots / name
    browser.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


@pytest.fixture(scope="module")
def long_dashboard(sqlite_journal, tmp_path_factory):
    """``kleio ui`` of a journal of one trial of 200,000 statistics, written through the
    store in batches of 100,000 (200 blocks: too few for the page's columns, so its first
    curve is read from the points; a zoom reads the blocks of its range alone)."""
    from kleio.core.model.catalogue import open_journal
    from kleio.core.model.trial import TrialSpec, new_trial_document
    from kleio.store.base import Event
    from kleio.store.keys import event_key

    address = str(tmp_path_factory.mktemp("long") / "kleio.db")
    document = new_trial_document(TrialSpec("long", ("python", "long.py")), status="completed")
    with open_journal(address, "kleio") as store:
        store.create_trial(document)
        for first in range(0, 200_000, 100_000):
            store.append_events(
                [
                    Event(
                        document["_id"],
                        "statistic",
                        event_key(1e9 + step, "w", step),
                        1e9 + step,
                        {"step": step, "loss": 1 / (step + 1) + (step == 123_456)},
                    )
                    for step in range(first, first + 100_000)
                ]
            )
    env = {**sqlite_journal.env, "KLEIO_DB_ADDRESS": address}
    with kleio_ui(env, sqlite_journal.project) as running:
        yield running.url, document["_id"]


def test_a_zoom_asks_for_its_range_and_shows_its_exact_points(browser, long_dashboard):
    """A drag across the chart of 200,000 points zooms in; once the mouse rests the page
    asks for that range alone, and shows every point of it when it holds few enough (the
    spike at step 123,456 among them); a double click zooms out to the whole curve."""
    from selenium.webdriver.common.action_chains import ActionChains

    url, trial = long_dashboard
    _open(browser, f"{url}#/plot?trials={trial}&y=loss&x=step")
    chart = "document.querySelector('#plot-chart')"
    _wait(browser, f"Number({chart}?.dataset.points) === 200000")
    over = browser.find_element("css selector", "#plot-chart .u-over")
    width = over.size["width"]
    # From 61.5% to 62.5% of the x range: about 2,000 steps, around step 123,456.
    left, right = round(width * 0.615), round(width * 0.625)
    ActionChains(browser).move_to_element_with_offset(
        over, left - width // 2, 0
    ).click_and_hold().move_by_offset(right - left, 0).release().perform()
    _wait(browser, f"{chart}.dataset.range !== ''")
    low, high = (
        float(v) for v in browser.execute_script(f"return {chart}.dataset.range").split(",")
    )
    assert low < 123_456 < high and high - low < 5_000
    points = int(
        _wait(browser, f"Number({chart}.dataset.points) < 200000 && {chart}.dataset.points")
    )
    expected = math.floor(high) - math.ceil(low) + 1  # the steps in the range, every one
    assert points == expected
    assert browser.execute_script("return window.__alerts") == []
    ActionChains(browser).double_click(over).perform()
    _wait(browser, f"{chart}.dataset.range === '' && Number({chart}.dataset.points) === 200000")
