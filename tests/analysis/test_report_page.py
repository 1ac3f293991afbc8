"""The report page as a browser shows it: a finished and a running study's report.html loaded in headless
Chromium (driven over the DevTools protocol), their content checked as rendered.

Skipped with a reason where no Chromium is installed, except under CI (``CI`` set), where it must run: `.ci/run`
installs Debian's chromium. ``VLPET_REPORT_SHOTS=DIR`` keeps full-page screenshots of both pages there."""

from __future__ import annotations

import json
import os
import re

import pytest

from tests.analysis.chromium import Chromium, find_chromium
from tests.analysis.report_study import report_study
from vlpet.analysis import write_study_outputs

@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but no Chromium was found: .ci/run installs Debian's chromium")
        pytest.skip("no Chromium installed (apt-get install chromium, or set CHROMIUM=/path/to/chrome)")
    with Chromium(executable) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_page")
    finished, running = report_study(root, "finished", False), report_study(root, "running", True)
    write_study_outputs(finished)
    write_study_outputs(running, live=True)
    shots = os.environ.get("VLPET_REPORT_SHOTS") or str(root)
    os.makedirs(shots, exist_ok=True)
    return {"finished": f"file://{finished}/report/report.html", "running": f"file://{running}/report/report.html",
            "shots": shots}


COLUMN = """(function (table, name) {
  var heads = Array.from(table.tHead.rows[0].cells).map(function (h) { return h.textContent.replace(/ [▲▼]$/, ""); });
  var at = heads.indexOf(name);
  return Array.from(table.tBodies[0].rows).map(function (r) { var c = r.cells[at], s = c.querySelector("[data-sort]");
    return {text: c.textContent, value: s ? parseFloat(s.getAttribute("data-sort")) : null,
            bold: !!c.querySelector("b"), underlined: !!c.querySelector("u")}; });
})"""


PLOT_FITS = ("document.querySelector('#pareto-plot .main-svg').getBoundingClientRect().width <= "
             "document.querySelector('#pareto-plot').getBoundingClientRect().width + 1")


def column(browser, section: str, name: str) -> list[dict]:
    return browser.evaluate(f"{COLUMN}(document.querySelector('#{section} table'), {json.dumps(name)})")


def rendered(browser, url: str) -> None:
    """``url`` loaded with its images decoded (not loaded again when it is already the page shown)."""
    if browser.evaluate("location.href") != url:
        browser.load(url)
    browser.poll("document.images.length > 0 && Array.from(document.images).every(i => i.complete)")


def test_the_finished_report_renders_sorted_formatted_tables_and_its_plots(browser, pages):
    rendered(browser, pages["finished"])
    # the interactive plot drew its points (plotly.js inlined, no network), the PNGs decoded
    assert browser.poll("document.querySelectorAll('#pareto-plot .scatterlayer .point').length") >= 5
    # drawn as wide as its column (beside the PNG), not as the row it had before the PNG arrived
    assert browser.evaluate(PLOT_FITS)
    assert browser.evaluate("document.querySelector('#pareto-plot .xtick') !== null")      # ticks in its range
    sizes = browser.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
    assert len(sizes) >= 3 and min(sizes) > 0
    assert browser.evaluate("document.querySelector('meta[http-equiv=refresh]')") is None
    assert browser.evaluate("document.getElementById('state').textContent") == "finished"
    status = browser.evaluate("document.getElementById('status').innerText")
    assert re.search(r"finished\s+10\b", status) and re.search(r"stopped\s+1\b", status)
    assert re.search(r"CPU-hours spent\s+22\.00", status) and re.search(r"GPU-hours spent\s+11\.00", status)

    accuracy = column(browser, "ablation", "vqa_acc")
    means = [cell["value"] for cell in accuracy]
    assert means == sorted(means, reverse=True) and means[0] == 65.0          # best first: full, then lora
    assert all(re.fullmatch(r"\d+\.\d\d ± \d+\.\d\d[†≈]?", cell["text"]) for cell in accuracy)
    # the best bold; the runner-up statistically tied with it is marked ≈, not underlined as second
    assert accuracy[0]["bold"] and accuracy[1]["text"].endswith("≈") and not accuracy[1]["underlined"]
    shares = {cell["text"]: (cell["bold"], cell["underlined"]) for cell in column(browser, "ablation", "trainable %")}
    tied = [(cell["bold"], cell["underlined"]) for cell in column(browser, "ablation", "trainable %")
            if cell["text"] == "12.39"]
    assert tied == [(True, False), (True, False)] and shares["15.00"] == (False, True)
    settings = [cell["text"] for cell in column(browser, "ablation", "setting")]
    assert "granularity=large, lr=3.5e-3" in settings and "lr=1.0e-4" in settings
    text = browser.evaluate("document.body.innerText")
    assert "0.00348896" not in text and "12,385" in text                     # full floats gone, counts separated
    top = [cell["value"] for cell in column(browser, "top", "metric")]
    assert top == sorted(top, reverse=True)


@pytest.mark.parametrize("width", [1280, 760])
def test_no_table_is_wider_than_the_page(browser, pages, width):
    """At a desktop width every table fits its box; narrower, a wide table scrolls inside its own box, and
    nothing ever makes the page itself wider than the window."""
    rendered(browser, pages["finished"])
    browser.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)
    try:
        assert browser.poll(f"window.innerWidth == {width}")
        # (polled: the interactive plot follows the window's width once plotly has handled the resize)
        assert browser.poll("document.documentElement.scrollWidth <= window.innerWidth", timeout=10)
        boxes = browser.evaluate("""Array.from(document.querySelectorAll('.table-box')).map(b => ({
            right: b.getBoundingClientRect().right, scrolls: b.scrollWidth > b.clientWidth + 1}))""")
        assert len(boxes) >= 4 and all(box["right"] <= width for box in boxes)
        if width >= 1280:
            assert not any(box["scrolls"] for box in boxes)
    finally:
        browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)


def test_clicking_a_header_sorts_its_table(browser, pages):
    rendered(browser, pages["finished"])
    browser.evaluate("Array.from(document.querySelectorAll('#ablation th')).find(h => h.textContent == "
                     "'trainable %').click()")
    shares = [cell["value"] for cell in column(browser, "ablation", "trainable %")]
    assert shares == sorted(shares) and len(shares) == 5
    browser.screenshot(os.path.join(pages["shots"], "finished.png"))


def test_the_running_report_says_so_and_reloads_itself(browser, pages):
    rendered(browser, pages["running"])
    assert browser.evaluate("document.querySelector('meta[http-equiv=refresh]').content") == "20"
    assert browser.evaluate("document.getElementById('state').textContent") == "running"
    live = browser.evaluate("document.getElementById('live').innerText")
    assert live.startswith("The study is running: this page was written at") and "every 20 s" in live
    status = browser.evaluate("document.getElementById('status').innerText")
    assert re.search(r"running\s+4\b", status) and re.search(r"finished\s+6\b", status)
    assert re.search(r"ended\s+still running", status)
    settings = [cell["text"] for cell in column(browser, "ablation", "setting")]
    assert len(settings) == 3                                  # only the configurations whose seeds all finished
    assert browser.poll("document.querySelectorAll('#pareto-plot .scatterlayer .point').length") >= 3
    assert browser.evaluate(PLOT_FITS)
    browser.screenshot(os.path.join(pages["shots"], "running.png"))

