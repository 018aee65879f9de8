"""The preview page in a real headless Chromium (Selenium): it redraws the figure and the table
after a save, shows an error with its source line (as text, never markup) and drops it once the
file is fixed. Screenshots of the four states go to a temp folder, or to docs/preview/ with
`--update-goldens`.

Skips, saying why, without selenium, chromium or chromedriver (`scripts/setup.sh --test`
installs them best effort).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from preview.preview_programs import program_text

pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium)")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

DOCS = Path(__file__).resolve().parents[2] / "docs" / "preview"
#: Seconds the page may take to show a save (it promises about one; slack for a loaded machine).
REDRAW_WITHIN_S = 6.0
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


@pytest.fixture
def browser() -> Iterator[Any]:
    binary = next((b for b in map(shutil.which, BROWSERS) if b), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,900")
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def shots(tmp_path: Path, update_goldens: bool) -> Callable[[Any, str], None]:
    folder = DOCS if update_goldens else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return lambda driver, name: driver.save_screenshot(str(folder / f"{name}.png"))


def _wait(driver: Any, what: str, test: Callable[[Any], Any]) -> Any:
    return WebDriverWait(driver, REDRAW_WITHIN_S, poll_frequency=0.05).until(
        test, message=f"the page did not show {what} within {REDRAW_WITHIN_S}s"
    )


def _version(driver: Any) -> int:
    return int(driver.find_element(By.TAG_NAME, "body").get_attribute("data-version"))


def _figure(driver: Any) -> str:
    return str(driver.find_element(By.ID, "figure").get_attribute("innerHTML"))


def _table(driver: Any) -> str:
    return str(driver.find_element(By.ID, "table").text)


def test_the_page_follows_saves_and_errors(
    browser: Any, live_server: str, program: Path, shots: Callable[[Any, str], None]
) -> None:
    browser.get(live_server + "/")
    _wait(browser, "the first figure", lambda d: d.find_elements(By.CSS_SELECTOR, "#figure svg"))
    _wait(browser, "the live status", lambda d: d.find_element(By.ID, "status").text == "live")
    first_figure, first_table = _figure(browser), _table(browser)
    assert "16×16×16" in first_table and not browser.find_element(By.ID, "errors").is_displayed()
    shots(browser, "1-loaded")

    program.write_text(program_text(stem=40), encoding="utf-8")
    _wait(browser, "the new table", lambda d: "40×16×16" in _table(d))
    assert _figure(browser) != first_figure and _table(browser) != first_table
    assert "40×16×16" in _figure(browser)
    shots(browser, "2-changed")
    good_figure, version = _figure(browser), _version(browser)

    bad = program_text(stem=40).replace(
        "    input image", "    <img src=x onerror=\"document.title='owned'\">\n    input image"
    )
    program.write_text(bad, encoding="utf-8")
    errors = browser.find_element(By.ID, "errors")
    _wait(browser, "the error", lambda d: errors.is_displayed())
    text = browser.find_element(By.ID, "error-text").text
    assert "tiny.incept:4:" in text and "<img src=x onerror=" in text and "^" in text
    assert not errors.find_elements(By.TAG_NAME, "img") and browser.title != "owned"
    assert _figure(browser) == good_figure  # the last good figure stays, dimmed
    assert "stale" in browser.find_element(By.ID, "figure").get_attribute("class")
    shots(browser, "3-error")

    program.write_text(program_text(stem=24), encoding="utf-8")
    _wait(browser, "the error go away", lambda d: not errors.is_displayed())
    _wait(browser, "the fixed table", lambda d: "24×16×16" in _table(d))
    assert _version(browser) >= version + 2 and "stale" not in (
        browser.find_element(By.ID, "figure").get_attribute("class") or ""
    )
    shots(browser, "4-fixed")


def test_the_selectors_switch_model_block_and_style(browser: Any, live_server: str) -> None:
    from selenium.webdriver.support.ui import Select

    browser.get(live_server + "/")
    _wait(browser, "the first figure", lambda d: d.find_elements(By.CSS_SELECTOR, "#figure svg"))
    Select(browser.find_element(By.ID, "block")).select_by_value("mixed")
    _wait(browser, "the block view", lambda d: "Previous layer" in _figure(d))
    Select(browser.find_element(By.ID, "model")).select_by_value("other")
    _wait(browser, "the other model", lambda d: "only" in _table(d) and "stem" not in _table(d))
    link = browser.find_element(By.CSS_SELECTOR, '.downloads a[data-fmt="csv"]')
    assert "model=other" in link.get_attribute("href") and "fmt=csv" in link.get_attribute("href")
