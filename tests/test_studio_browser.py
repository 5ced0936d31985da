"""fastmlp studio in a real browser: Debian's headless Chromium driven by Selenium.

Build a model by clicking, see the missing-Flatten message, train on the sample, see the
curve grow and the rates and the test accuracy appear, open the misclassified images and a
confusion-matrix cell, compare two runs, fetch the exported code; download a missing
dataset (from a local server of fake files) and see its progress, then pick it, and see a
failed download's message. Screenshots go to the
test's tmp dir (and to $STUDIO_SHOTS when set, to look at them).

Skipped where selenium, chromium or the studio extra is missing; a failure under CI.
"""
from __future__ import annotations

import os
import shutil
import threading
import time
import urllib.request

import pytest

from _optional import in_ci, require

require("starlette", module_level=True)
require("uvicorn", module_level=True)
require("selenium", module_level=True)
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from _http_files import Server, serve_fake_datasets  # noqa: E402
from _studio_server import inprocess_studio, studio_server  # noqa: E402

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
    msg = f"needs Debian's chromium and chromium-driver ({CHROMIUM}, {DRIVER})"
    if in_ci():
        pytest.fail(msg + " (CI installs them, so this is an error there)", pytrace=False)
    pytest.skip(msg, allow_module_level=True)


@pytest.fixture
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1400,2000"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(DRIVER), options=opts)
    yield drv
    drv.quit()


def _shot(browser, tmp_path, name):
    path = tmp_path / f"{name}.png"
    browser.save_screenshot(str(path))
    if os.environ.get("STUDIO_SHOTS"):
        os.makedirs(os.environ["STUDIO_SHOTS"], exist_ok=True)
        shutil.copy(path, os.environ["STUDIO_SHOTS"])
    assert path.stat().st_size > 10_000  # a rendered page, not a blank one


def test_build_train_inspect_compare(browser, tmp_path):
    with studio_server(tmp_path / "data") as url:
        # (the page re-renders lists as answers arrive: an element may go stale mid-check)
        wait = WebDriverWait(browser, 30, poll_frequency=0.05,
                             ignored_exceptions=(StaleElementReferenceException,))
        css = lambda sel: browser.find_element(By.CSS_SELECTOR, sel)  # noqa: E731
        msg = lambda: css("#validation")  # noqa: E731
        browser.get(url)
        wait.until(lambda _: "ok" in msg().get_attribute("class"))
        assert "parameters" in msg().text

        # remove Flatten: the Python API's message; add it back, move it up to its place
        css('#layers li[data-type="Flatten"] .remove').click()
        wait.until(lambda _: "error" in msg().get_attribute("class"))
        assert "Add fm.Flatten()" in msg().text
        assert "bad" in css("#layers li:nth-child(2)").get_attribute("class")
        _shot(browser, tmp_path, "1-missing-flatten")
        Select(css("#add-layer-type")).select_by_value("Flatten")
        css("#add-layer").click()
        for i in (3, 2):  # appended as the 4th layer: up to 3rd, up to 2nd
            browser.find_elements(By.CSS_SELECTOR, "#layers li")[i] \
                .find_element(By.CSS_SELECTOR, ".up").click()
        wait.until(lambda _: "ok" in msg().get_attribute("class"))
        types = [li.get_attribute("data-type")
                 for li in browser.find_elements(By.CSS_SELECTOR, "#layers li")]
        assert types == ["Rescaling", "Flatten", "Dense", "Dense"]
        assert "101,770" in msg().text  # 784*128+128 + 128*10+10

        # train on the sample: the curve grows while it trains, then the results appear
        length = css("#length")
        length.clear()
        length.send_keys("40")
        css("#start").click()
        seen = set()
        t_end = time.monotonic() + 40
        while css("#run-status").text != "done" and time.monotonic() < t_end:
            seen.add(int(css("#loss-chart").get_attribute("data-points") or 0))
            time.sleep(0.05)
        final = int(css("#loss-chart").get_attribute("data-points"))
        assert css("#run-status").text == "done"
        assert len({n for n in seen if 0 < n < final}) >= 1, (seen, final)  # it grew
        wait.until(lambda _: css("#test-accuracy").text.endswith("%"))
        assert float(css("#test-accuracy").text[:-1]) > 70
        assert css("#train-rate").text != "-" and css("#infer-rate").text != "-"
        _shot(browser, tmp_path, "2-trained")

        # inspect: the grid, the misclassified ones, a confusion cell
        wait.until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, "#inspect-grid .card")))
        css("#only-misclassified").click()
        wait.until(lambda _: "of 1000 images" not in css("#inspect-count").text
                   and (cards := browser.find_elements(By.CSS_SELECTOR, "#inspect-grid .card"))
                   and all("wrong" in c.get_attribute("class") for c in cards))
        _shot(browser, tmp_path, "3-misclassified")
        css("#only-misclassified").click()
        wait.until(lambda _: "of 1000 images" in css("#inspect-count").text)
        wait.until(lambda _: css("#confusion tr:nth-child(2) td:nth-child(2)").click() or True)
        # (that cell: true class 0, predicted 0)
        wait.until(lambda _: "predicted" in css("#inspect-filter").text)

        # a second run with a larger batch; compare the two
        bs = css("#batch-size")
        bs.clear()
        bs.send_keys("256")
        length.clear()
        length.send_keys("5")
        css("#start").click()
        wait.until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, "#runs-table tr")) == 3
                   and css("#run-status").text == "done")
        for box in browser.find_elements(By.CSS_SELECTOR, "#runs-table input.compare"):
            box.click()
        wait.until(lambda _: int(css("#compare-chart").get_attribute("data-points") or 0) == 45)
        browser.execute_script("arguments[0].scrollIntoView()", css("#runs"))
        _shot(browser, tmp_path, "4-compare")

        # the exported code, from the page's link
        href = css("#runs-table a.export-code").get_attribute("href")
        with urllib.request.urlopen(href) as r:
            code = r.read().decode()
        assert "fm.Sequential([" in code and "batch_size=256" in code


def test_download_a_missing_dataset(browser, tmp_path, monkeypatch):
    server, release = Server(), threading.Event()
    try:
        files = serve_fake_datasets(server, monkeypatch, tmp_path)
        first = list(files["mnist"])[0]  # held half-sent until the page has shown progress
        server.route(f"/m/mnist/{first}", files["mnist"][first], mode="slow")
        server.httpd.observe = lambda: release.wait(30)
        del server.httpd.routes["/m/cifar10/cifar-10-binary.tar.gz"]  # this one fails
        with inprocess_studio(tmp_path / "data", mirrors=[f"{server.base}/m"]) as url:
            wait = WebDriverWait(browser, 30, poll_frequency=0.05,
                                 ignored_exceptions=(StaleElementReferenceException,))
            css = lambda sel: browser.find_element(By.CSS_SELECTOR, sel)  # noqa: E731
            row = lambda name: f'#downloads .download-row[data-dataset="{name}"]'  # noqa: E731
            browser.get(url)
            wait.until(lambda _: "ok" in css("#validation").get_attribute("class"))
            assert css('#dataset option[value="mnist"]').get_attribute("disabled")
            css(row("mnist") + " button").click()
            wait.until(lambda _: css(row("mnist") + " .message").text.startswith("downloading"))
            assert css(row("mnist") + " button").get_attribute("disabled")
            _shot(browser, tmp_path, "5-downloading")
            release.set()
            wait.until(lambda _: Select(css("#dataset")).first_selected_option
                       .get_attribute("value") == "mnist")
            wait.until(lambda _: "20 training" in css("#dataset-info").text)
            assert "100%" in css(row("mnist") + " .message").text
            assert not css('#dataset option[value="mnist"]').get_attribute("disabled")
            wait.until(lambda _: "ok" in css("#validation").get_attribute("class"))

            css(row("cifar10") + " button").click()
            wait.until(lambda _: "error" in css(row("cifar10") + " .message")
                       .get_attribute("class"))
            text = css(row("cifar10") + " .message").text
            assert "downloading cifar10 failed" in text and "HTTP 404" in text, text
            assert css('#dataset option[value="cifar10"]').get_attribute("disabled")
            _shot(browser, tmp_path, "6-downloaded")
    finally:
        release.set()
        server.close()
