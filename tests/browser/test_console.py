"""The web console in headless Chromium against a real hub: accounts and the
remember-me cookie, the live project list, commands, files, a terminal, reconnection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from tests.fixtures.timeouts import eventually, seconds

playwright_api = pytest.importorskip("playwright.async_api")
expect = playwright_api.expect
# assertions wait up to this long for the page to get there
expect.set_options(timeout=seconds(10) * 1000)

PASSWORD = "console-pass-1"


async def open_console(c: Any) -> None:
    await c.page.goto(c.url + "/")
    await expect(c.page.locator("#conn-state")).to_have_text("connected")


async def sign_up(c: Any, email: str, remember: bool = True) -> None:
    page = c.page
    await open_console(c)
    await expect(page.locator("#auth")).to_be_visible()
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.fill("#first-name", "Web")
    await page.fill("#last-name", "Console")
    await page.set_checked("#remember-me", remember)
    await page.click("#sign-up")
    await expect(page.locator("#main")).to_be_visible()
    if remember:  # the cookie is stored once this shows
        await expect(page.locator("#whoami")).to_contain_text("remembered")


async def create_project(c: Any, title: str) -> str:
    page = c.page
    await page.fill("#new-project-title", title)
    await page.click("#new-project button")
    button = page.locator("#projects button", has_text=title)
    await expect(button).to_have_class("current")
    await expect(page.locator("#project-title")).to_have_text(title)
    return str(await button.get_attribute("data-project-id"))


@asynccontextmanager
async def same_account(connect: Any, email: str) -> AsyncIterator[Any]:
    """Another client of the hub, signed in as the page's account."""
    async with connect() as client:
        await client.sign_in(email, PASSWORD)
        yield client


def error_shown(c: Any, text: str) -> Any:
    return expect(c.page.locator("#errors li", has_text=text)).to_be_visible()


async def test_sign_up_then_reload_is_signed_in_by_the_cookie(console: Any) -> None:
    page = console.page
    await sign_up(console, "web-remember@example.com")
    await console.screenshot("signed-up")
    await page.reload()
    await expect(page.locator("#conn-state")).to_have_text("connected")
    await expect(page.locator("#main")).to_be_visible()
    await expect(page.locator("#whoami")).to_have_text("web-remember@example.com · remembered")

    # signing out forgets the cookie on the hub: a reload is signed out
    await page.click("#sign-out")
    await expect(page.locator("#auth")).to_be_visible()
    await page.reload()
    await expect(page.locator("#auth")).to_be_visible()
    await expect(page.locator("#errors li")).to_have_count(0)

    # a wrong password is shown; the right one with remember me signs in and survives a reload
    await page.fill("#email", "web-remember@example.com")
    await page.fill("#password", "wrong-password")
    await page.click("#sign-in")
    await error_shown(console, "Incorrect password")
    await console.screenshot("wrong-password")
    await page.fill("#password", PASSWORD)
    await page.click("#sign-in")
    await expect(page.locator("#whoami")).to_contain_text("remembered")
    await page.reload()
    await expect(page.locator("#whoami")).to_contain_text("web-remember@example.com")

    # signing up again with the same address is refused with the hub's reason
    await page.click("#sign-out")
    await page.fill("#email", "web-remember@example.com")
    await page.fill("#password", PASSWORD)
    await page.click("#sign-up")
    await error_shown(console, "email_address:")


async def test_without_remember_me_a_reload_signs_out(console: Any) -> None:
    await sign_up(console, "web-forget@example.com", remember=False)
    await console.page.reload()
    await expect(console.page.locator("#auth")).to_be_visible()


async def test_project_list_follows_a_rename_by_another_client(console: Any, connect: Any) -> None:
    page = console.page
    email = "web-projects@example.com"
    await sign_up(console, email)
    pid = await create_project(console, "alpha")
    await create_project(console, "beta")
    await expect(page.locator("#projects button")).to_have_count(2)
    async with same_account(connect, email) as other:
        reply = await other.call("query", query={"projects": {"project_id": pid, "title": "gamma"}})
        assert reply["event"] == "query"
        await expect(page.locator(f'#projects button[data-project-id="{pid}"]')).to_have_text(
            "gamma"
        )
        # a project made elsewhere appears too
        await other.call("create_project", title="delta")
        await expect(page.locator("#projects button")).to_have_count(3)
    await console.screenshot("renamed")
    await expect(page.locator("#projects button")).to_have_text(["beta", "delta", "gamma"])


async def test_a_command_streams_its_output(console: Any) -> None:
    page = console.page
    await sign_up(console, "web-exec@example.com")
    await create_project(console, "exec")
    output = page.locator("#exec-output")
    # each line is seen before the command has ended: the output streams in
    await page.fill("#command", "for i in 1 2 3; do echo line$i; sleep 0.4; done")
    await page.click("#run")
    await expect(output).to_contain_text("line1")
    assert "exit code" not in await output.inner_text()
    await expect(output).to_contain_text("line3\n\n[exit code 0]")
    await console.screenshot("streamed")
    # stderr and a failing exit code are shown as such
    await page.fill("#command", "ls /no-such-dir")
    await page.click("#run")
    await expect(output.locator(".stderr")).to_contain_text("No such file")
    await expect(output).to_contain_text("[exit code 2]")


async def test_edit_a_file(console: Any, connect: Any) -> None:
    page = console.page
    email = "web-files@example.com"
    await sign_up(console, email)
    pid = await create_project(console, "files")
    async with same_account(connect, email) as other:
        await other.call(
            "write_text_file_to_project", project_id=pid, path="notes.txt", content="first"
        )
        await page.fill("#file-path", "notes.txt")
        await page.click("#file-open")
        await expect(page.locator("#file-content")).to_have_value("first")
        await page.fill("#file-content", "first\nsecond line from the browser ✓\n")
        await page.click("#file-save")
        await expect(page.locator("#file-status")).to_contain_text("saved notes.txt")
        read = await other.call("read_text_file_from_project", project_id=pid, path="notes.txt")
        assert read["content"] == "first\nsecond line from the browser ✓\n"
        await console.screenshot("saved")
        # what goes wrong is shown: a missing file, a path outside the project
        await page.fill("#file-path", "missing.txt")
        await page.click("#file-open")
        await error_shown(console, "missing.txt")
        await page.fill("#file-path", "../../../etc/passwd")
        await page.click("#file-open")
        await error_shown(console, "outside the project")


async def test_a_terminal(console: Any, connect: Any) -> None:
    page = console.page
    await sign_up(console, "web-term@example.com")
    await create_project(console, "term")
    await page.click("#term-open")
    await expect(page.locator("#term-status")).to_have_text("running")
    output = page.locator("#term-output")
    await page.fill("#term-input", "echo hi-$((6*7))")
    await page.press("#term-input", "Enter")
    await expect(output).to_contain_text("hi-42")
    # colours and other escape codes do not reach the page
    await page.fill("#term-input", r"printf '\033[1;31mred\033[0m-\033]0;title\007done\n'")
    await page.press("#term-input", "Enter")
    await expect(output).to_contain_text("red-done")
    assert "\x1b" not in await output.inner_text()
    # Ctrl-C reaches the program in the terminal
    await page.fill("#term-input", "sleep 30; echo not-$((40+2))-interrupted")
    await page.press("#term-input", "Enter")
    await page.click("#term-ctrl-c")
    await page.fill("#term-input", "echo after-$((1+1))")
    await page.press("#term-input", "Enter")
    await expect(output).to_contain_text("after-2")
    assert "not-42-interrupted" not in await output.inner_text()
    await console.screenshot("terminal")
    await page.fill("#term-input", "exit 3")
    await page.press("#term-input", "Enter")
    await expect(page.locator("#term-status")).to_have_text("exited (3)")
    await expect(page.locator("#term-input")).to_be_disabled()


async def test_reconnects_by_itself_and_picks_up_where_it_was(
    console: Any, connect: Any, hub: Any
) -> None:
    page = console.page
    email = "web-reconnect@example.com"
    await sign_up(console, email)
    pid = await create_project(console, "before")
    await page.click("#term-open")
    await expect(page.locator("#term-status")).to_have_text("running")
    await page.fill("#term-input", "export MARK=kept-$((2*3))")
    await page.press("#term-input", "Enter")
    # every state the indicator shows is recorded, however briefly it shows
    await page.evaluate(
        """() => {
        window.seenStates = [];
        const el = document.getElementById("conn-state");
        new MutationObserver(() => window.seenStates.push(el.dataset.state))
            .observe(el, {attributes: true});
    }"""
    )
    sessions = hub.sessions.snapshot()
    assert len(sessions) == 1
    await sessions[0].shutdown(1011, "test drops the connection")
    # the indicator said "connected" before the drop too: wait for it to change and come back
    # (polled from here: the page's CSP forbids the eval that wait_for_function uses)
    await eventually(lambda: page.evaluate("window.seenStates.at(-1) === 'connected'"), 10)
    states = await page.evaluate("window.seenStates")
    assert "reconnecting" in states and states[-1] == "connected", states
    await expect(page.locator("#main")).to_be_visible()  # signed in again by the cookie
    await console.screenshot("reconnected")
    # the project feed is open again: a rename elsewhere shows up
    async with same_account(connect, email) as other:
        await other.call("query", query={"projects": {"project_id": pid, "title": "after"}})
        await expect(page.locator(f'#projects button[data-project-id="{pid}"]')).to_have_text(
            "after"
        )
    # the terminal was reattached: the same shell, with its scrollback
    await expect(page.locator("#term-status")).to_have_text("running")
    await expect(page.locator("#term-output")).to_contain_text("export MARK")
    await page.fill("#term-input", "echo $MARK")
    await page.press("#term-input", "Enter")
    await expect(page.locator("#term-output")).to_contain_text("kept-6\n")
    # a hub that stops says so first (`reconnect`) and refuses new connections; the page
    # keeps trying, and is back as soon as the hub accepts again
    await hub.sessions.shutdown(1.0)
    await expect(page.locator("#conn-state")).to_have_text("reconnecting")
    hub.sessions.accepting = True
    await expect(page.locator("#conn-state")).to_have_text("connected")
    await expect(page.locator(f'#projects button[data-project-id="{pid}"]')).to_have_text("after")
