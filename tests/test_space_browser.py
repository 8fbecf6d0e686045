"""End to end in a real browser: `hubtool space run` serves the demo from models on the local hub, headless
Chromium (Debian's package, driven by Playwright) sends a chat message and sees the streamed answer.
The screenshot is kept in test-artifacts/ (or $HUBTOOL_TEST_ARTIFACTS)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from space_helpers import free_port, publish_arena_models

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


def chromium_path() -> str:
    path = os.environ.get("HUBTOOL_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Chromium is needed: `make test` installs Debian's `chromium` package (apt-get install chromium)"
    return path


@pytest.fixture()
def space_server(hub, api, tiny_model_dir, tmp_path):
    settings = publish_arena_models(api, tiny_model_dir, tmp_path)
    config = tmp_path / "space.yaml"
    config.write_text(yaml.safe_dump(settings))
    port = free_port()
    log = (tmp_path / "space.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "hub_tools.cli", "space", "run", "--config", str(config),
                             "--port", str(port), "--endpoint", hub.url], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / "space.log").read_text()
        try:
            if httpx.get(url, trust_env=False, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        pytest.fail("the Space did not start: " + (tmp_path / "space.log").read_text())
    yield url, settings
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.slow
def test_browser_sends_a_chat_message_and_sees_the_streamed_answer(space_server):
    from playwright.sync_api import expect, sync_playwright

    from hub_tools.serving.openai_server import TransformersBackend

    url, settings = space_server
    spec = settings["models"][0]
    engine = TransformersBackend(spec["model"], adapter=spec["adapter"], adapter_revision=spec["adapter_revision"])
    message = "Kaixo! Zer moduz zaude?"
    expected = engine.complete([engine.chat_prompt([{"role": "system", "content": "Euskaraz erantzun beti."},
                                                    {"role": "user", "content": message}])],
                               settings["max_new_tokens"])[0].text
    artifacts = Path(os.environ.get("HUBTOOL_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "space-chat.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url, wait_until="domcontentloaded")
            page.locator("#chat-input textarea").fill(message)
            # record every text the answer bubble shows while it streams
            page.evaluate("""() => {
                window.seen = [];
                new MutationObserver(() => {
                    const bots = document.querySelectorAll("#chatbot [data-testid='bot']");
                    const text = bots.length ? bots[bots.length - 1].innerText.trim() : "";
                    if (text && window.seen[window.seen.length - 1] !== text) window.seen.push(text);
                }).observe(document.querySelector("#chatbot"), {subtree: true, childList: true, characterData: true});
            }""")
            page.locator("#chat-send").click()
            bot = page.locator("#chatbot [data-testid='bot']").last
            expect(bot).to_have_text(expected.strip(), timeout=60_000)
            expect(page.locator("#chatbot [data-testid='user']").last).to_have_text(message)
            page.screenshot(path=str(shot), full_page=True)
            seen = page.evaluate("window.seen")
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    # the answer grew in place: several partial texts, each a prefix of the final one
    assert len(seen) >= 2 and seen[-1] == expected.strip(), seen
    assert all(expected.strip().startswith(text) for text in seen), seen
