"""The page in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

One browser for the module, against the app on uvicorn in a thread over
seeds/ plus the hostile records: type a query, click a facet and remove it,
follow a page link and the did-you-mean link, complete as you type; and
show that no record's markup runs (while a page that does run script is
caught by the same check).  Screenshots go to pytest's tmp dir, or to
$NEWS_SEARCH_SCREENSHOTS when set.  Selenium is given the driver's path, so
Selenium Manager never downloads anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

CHROMIUM = Path(os.environ.get("NEWS_SEARCH_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("NEWS_SEARCH_CHROMEDRIVER", "/usr/bin/chromedriver"))
#: Only bounds a wait for the page; never a measure of speed.
WAIT_SECONDS = 30

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason=f"no Chromium at {CHROMIUM} with {CHROMEDRIVER}: apt-get install chromium chromium-driver (.ci/run does)",
)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    profile = tmp_path_factory.mktemp("chromium-profile")
    for arg in (
        "--headless=new",
        "--no-sandbox",  # the suite runs as root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1400",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager, if ever asked, may not download
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture()
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("NEWS_SEARCH_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_for(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_SECONDS).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css)))


def params(driver: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(driver.current_url).query)


def navigated(driver: Any, until: Callable[[dict[str, list[str]]], bool]) -> None:
    """Wait for the page a click or an Enter leads to: until its URL's query says
    so.  The page before holds hits too (the home page lists the newest), so
    waiting for `li.hit` alone read the old page under load."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: until(params(d)))


def count(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, "p.count").text)


def csp_violations(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def test_search_facets_paging_and_did_you_mean(browser: Any, live_server: str, shots: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(live_server + "/")
    box = wait_for(browser, "input#q")
    box.send_keys("facial recognition", Keys.ENTER)
    navigated(browser, lambda query: "q" in query)
    wait_for(browser, "li.hit")
    assert params(browser)["q"] == ["facial recognition"]
    before = count(browser)
    assert before.endswith("results") and int(before.split()[0]) > 5

    # A facet link adds the filter; the active filter's link removes it again.
    browser.find_element(By.CSS_SELECTOR, 'ul.facet[data-facet="provider"] a[href*="provider=The+Financial+Times"]').click()
    wait_for(browser, "a.remove")
    assert params(browser)["provider"] == ["The Financial Times"]
    providers = {e.text for e in browser.find_elements(By.CSS_SELECTOR, "li.hit .provider")}
    assert providers == {"The Financial Times"} and count(browser) != before
    browser.save_screenshot(str(shots / "search-filtered.png"))
    browser.find_element(By.CSS_SELECTOR, "a.remove").click()
    navigated(browser, lambda query: "provider" not in query)
    wait_for(browser, "li.hit")
    assert "provider" not in params(browser) and count(browser) == before

    # Paging: the next-page link, and the current page marked.
    browser.get(live_server + "/?q=recognition&limit=2")
    browser.find_element(By.CSS_SELECTOR, 'nav.pages a[rel="next"]').click()
    assert wait_for(browser, 'nav.pages [aria-current="page"]').text == "2"
    assert params(browser)["page"] == ["2"]

    # Did you mean: a link to the corrected query.
    browser.get(live_server + "/?q=facail+recogniton")
    wait_for(browser, "a#didyoumean").click()
    navigated(browser, lambda query: query.get("q") != ["facail recogniton"])
    wait_for(browser, "li.hit")
    assert params(browser)["q"] == ["facial recognition"]

    # Completion as you type, from the page's own script, under its CSP.
    browser.get(live_server + "/")
    wait_for(browser, "input#q").send_keys("moo")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda d: d.execute_script("return document.querySelectorAll('#suggestions option').length") > 0
    )
    options = browser.execute_script("return [...document.querySelectorAll('#suggestions option')].map(o => o.value)")
    assert any("Moon" in o for o in options), options
    assert csp_violations(browser) == []

    browser.get(live_server + "/?q=facial+recognition")
    wait_for(browser, "li.hit")
    browser.save_screenshot(str(shots / "search-page.png"))
    assert (shots / "search-page.png").stat().st_size > 10_000


def test_record_markup_never_runs(browser: Any, live_server: str, shots: Path) -> None:
    from selenium.webdriver.common.by import By

    # The check can fail: where markup is not escaped, it runs in this browser.
    browser.get("data:text/html,<title>t</title><img src=x onerror=\"window.__pwned='control'\">")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, WAIT_SECONDS).until(lambda d: d.execute_script("return window.__pwned") == "control")

    pages = ["/?q=zyxwv", "/?q=zyxwv&sort=newest"]
    browser.get(live_server + "/?q=zyxwv")
    wait_for(browser, "li.hit")
    for css in ("li.hit a.record", "li.hit a.similar", 'ul.facet[data-facet="topic"] a'):
        for link in browser.find_elements(By.CSS_SELECTOR, css)[:3]:
            href = urlsplit(link.get_attribute("href"))
            pages.append(f"{href.path}?{href.query}")
    assert len(pages) >= 8
    for page in pages:
        browser.get(live_server + page)
        wait_for(browser, "footer")
        state = browser.execute_script(
            "return {pwned: window.__pwned === undefined ? null : String(window.__pwned), title: document.title,"
            " hrefs: [...document.links].map(a => a.href)}"
        )
        assert state["pwned"] is None, (page, state)
        assert state["title"] != "PWNED", page  # what the payloads would set; the title text may quote it
        assert all(h.startswith(("http://", "https://")) for h in state["hrefs"]), (page, state["hrefs"])
    browser.get(live_server + "/?q=zyxwv")
    hostile = wait_for(browser, "li.hit h2.title").text
    assert "<script>" in hostile or "<img" in " ".join(
        e.text for e in browser.find_elements(By.CSS_SELECTOR, "li.hit h2.title, li.hit .provider")
    )  # shown as text
    browser.save_screenshot(str(shots / "hostile-records.png"))
    assert csp_violations(browser) == []


def test_readable_on_a_phone(browser: Any, live_server: str, shots: Path) -> None:
    browser.set_window_size(390, 844)
    try:
        browser.get(live_server + "/?q=facial+recognition")
        wait_for(browser, "li.hit")
        overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0
        browser.save_screenshot(str(shots / "phone.png"))
    finally:
        browser.set_window_size(1280, 1400)
