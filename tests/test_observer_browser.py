"""The observer in a real browser (Selenium driving Debian's headless chromium) on the orders demo.

One browser serves the module; each test runs its own node. Selenium's calls
block, so they run in a thread while the node goes on in the test's trio loop.
The overview test takes the screenshot the README shows; it replaces
docs/observer.png when LUACTOR_UPDATE_SCREENSHOT is set (else it goes to the
test's temporary directory, so a test run leaves the checkout as it was).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from actors import Node

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "orders"
README_SCREENSHOT = ROOT / "docs" / "observer.png"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,1100"]
WAIT = 20  # seconds any one thing may take to appear on the page

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="luactor-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
        try:
            yield driver
        finally:
            driver.quit()


@asynccontextmanager
async def orders_node(tmp_path: Path):
    app = tmp_path / "orders"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns(".luactor"))
    async with Node.open(app, data_dir=tmp_path / "data", observe="127.0.0.1:0") as node:
        node.observability.streams.interval = 0.1
        yield node


async def in_browser(call: Callable[..., Any], *args: Any) -> Any:
    return await trio.to_thread.run_sync(call, *args)


def text_of(browser: Any, selector: str) -> str | None:
    try:
        found = browser.find_elements(By.CSS_SELECTOR, selector)
        return found[0].text if found else None
    except StaleElementReferenceException:  # the page re-rendered under us: look again
        return None


async def until(browser: Any, condition: Callable[[Any], Any]) -> Any:
    """What ``condition(browser)`` returns once it is truthy (the page renders each tick anew)."""
    def check(driver: Any) -> Any:
        try:
            return condition(driver)
        except (StaleElementReferenceException, WebDriverException):
            return None
    return await in_browser(WebDriverWait(browser, WAIT, poll_frequency=0.05).until, check)


async def test_the_overview_shows_the_tree_processes_and_workflows(browser, tmp_path):
    async with orders_node(tmp_path) as node:
        await in_browser(browser.get, node.observability.urls["observer"])
        await until(browser, lambda b: text_of(b, 'tr[data-service="orders:desk"] td.state') == "Running")
        await until(browser, lambda b: len(b.find_elements(By.CSS_SELECTOR, "tr[data-workflow]")) == 5)
        await until(browser, lambda b: "completed" in (text_of(b, "#workflows .badge") or ""))
        assert text_of(browser, '#status') == "live"
        hosts = [row.get_attribute("data-host") for row in browser.find_elements(By.CSS_SELECTOR, "tr[data-host]")]
        assert hosts == ["orders:processes", "orders:workflows"]
        assert browser.find_elements(By.CSS_SELECTOR, 'tr[data-pid] a[href^="/process/"]')
        screenshot = README_SCREENSHOT if os.environ.get("LUACTOR_UPDATE_SCREENSHOT") else tmp_path / "observer.png"
        assert await in_browser(browser.save_screenshot, str(screenshot))
        assert screenshot.read_bytes().startswith(b"\x89PNG")
        # a search by an attribute (the order's input) keeps the one that matches
        search = browser.find_element(By.ID, "search")
        await in_browser(search.send_keys, '"amount":390\n')
        await until(browser, lambda b: [row.get_attribute("data-workflow")
                                        for row in b.find_elements(By.CSS_SELECTOR, "tr[data-workflow]")] == ["order-3"])
    await until(browser, lambda b: text_of(b, "#status") == "node stopped")


async def test_a_workflow_is_followed_to_its_history(browser, tmp_path):
    async with orders_node(tmp_path) as node:
        await in_browser(browser.get, node.observability.urls["observer"])
        link = await until(browser, lambda b: b.find_element(By.CSS_SELECTOR, 'tr[data-workflow="order-1"] a'))
        await in_browser(link.click)
        await until(browser, lambda b: b.current_url.endswith("/workflow/order-1"))
        await until(browser, lambda b: text_of(b, "#wf-status") == "completed")
        types = [item.get_attribute("data-type") for item in browser.find_elements(By.CSS_SELECTOR, "#timeline li")]
        # reserve, charge, ship; timers; the desk's approval; the batches they were committed in
        assert types.count("call") == 3 and {"timer", "signal", "batch", "send"} <= set(types)
        assert text_of(browser, "#result").startswith("result: ")
        assert "null" not in text_of(browser, "#view").split("\n")   # nothing left over rendered as text


async def test_a_service_restart_appears_live(browser, tmp_path):
    async with orders_node(tmp_path) as node:
        from supervision import services
        await in_browser(browser.get, node.observability.urls["observer"])
        row = 'tr[data-service="orders:desk"]'
        await until(browser, lambda b: text_of(b, f"{row} td.state") == "Running")
        old_pid = services(node).status("orders:desk").pid
        # a process linked to the desk is terminated: the desk dies with it, and is restarted
        async with node.mailbox() as linked:
            linked.link(old_pid)
            await node.terminate(linked.pid)
        await until(browser, lambda b: text_of(b, f"{row} td.state") == "Failed")
        assert "linked process" in text_of(browser, f"{row} td.error")
        assert text_of(browser, f"{row} td.restart")       # when the restart is due
        await until(browser, lambda b: text_of(b, f"{row} td.state") == "Running"
                    and text_of(b, f"{row} td.attempts") == "1")
        assert old_pid not in text_of(browser, row)
