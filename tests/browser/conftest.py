"""Headless Chromium (Debian's package, never a downloaded one) driven by Playwright,
pointed at the test hub's web console. Screenshots land in test-artifacts/screenshots/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.timeouts import seconds

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HAVE_CHROMIUM = CHROMIUM.exists()
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        pytest.skip("/usr/bin/chromium is missing (scripts/system-deps.sh installs it)")
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class Page:
    """One browser page on the console, with what it reported and screenshot names."""

    def __init__(self, page: Any, url: str, name: str) -> None:
        self.page = page
        self.url = url
        self.name = re.sub(r"[^A-Za-z0-9_-]+", "_", name)
        self.problems: list[str] = []
        self.shots = 0
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        # a failed fetch or a refused script (CSP) would be silent in the UI otherwise
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.problems.append(f"console: {message.text}")

    async def screenshot(self, step: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        path = SCREENSHOTS / f"{self.name}-{self.shots:02d}-{step}.png"
        await self.page.screenshot(path=str(path), full_page=True)


@pytest.fixture
async def console(browser: Any, hub: Any, request: Any) -> AsyncIterator[Page]:
    """A fresh browser context (no cookies) with one page on the hub's console."""
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(seconds(10) * 1000)
    wrapped = Page(page, hub.url, request.node.name)
    for old in SCREENSHOTS.glob(f"{wrapped.name}-*.png"):  # a previous run's
        old.unlink()
    try:
        yield wrapped
        assert not wrapped.problems, wrapped.problems
    finally:
        # the last state of every test, passed or failed, is kept to look at
        await wrapped.screenshot("end")
        await context.close()
