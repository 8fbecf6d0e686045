"""End to end in a real browser, headless Chromium (Debian's package, driven by Playwright): `hubtool space run`
serves the demo from models on the local hub and a chat message streams back; a signed-in voter plays five
arena battles with follow-up turns. Screenshots are kept in test-artifacts/ (or $HUBTOOL_TEST_ARTIFACTS)."""
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
from space_helpers import free_port, plain_generate, publish_arena_models, serving

# Playwright waits at most 5 s by default; on a busy machine the page may take longer to follow. Every wait is
# for a state, never a time, so this bound is a safety net only.
SAFETY_MS = 120_000

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

    url, settings = space_server
    spec = settings["models"][0]
    message = "Kaixo! Zer moduz zaude?"
    expected = plain_generate(spec["model"], [{"role": "system", "content": "Euskaraz erantzun beti."},
                                              {"role": "user", "content": message}], settings["max_new_tokens"],
                              adapter=spec["adapter"], adapter_revision=spec["adapter_revision"])
    artifacts = Path(os.environ.get("HUBTOOL_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "space-chat.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(SAFETY_MS)
            expect.set_options(timeout=SAFETY_MS)
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
            expect(bot).to_have_text(expected.strip(), timeout=SAFETY_MS)
            expect(page.locator("#chatbot [data-testid='user']").last).to_have_text(message)
            page.screenshot(path=str(shot), full_page=True)
            seen = page.evaluate("window.seen")
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    # the answer grew in place: several partial texts, each a prefix of the final one
    assert len(seen) >= 2 and seen[-1] == expected.strip(), seen
    assert all(expected.strip().startswith(text) for text in seen), seen


# (content, language, overall or None when it must not be asked, stored winners)
PLAN = [("A is better", "A is better", None, ("model_a", "model_a", "model_a")),
        ("A is better", "B is better", "Tie", ("tie", "model_a", "model_b")),
        ("Tie", "B is better", None, ("model_b", "tie", "model_b")),
        ("Both are bad", "Both are bad", None, ("tie (bothbad)", "tie (bothbad)", "tie (bothbad)")),
        ("B is better", "A is better", "A is better", ("model_a", "model_b", "model_a"))]
VOTE_INPUTS = ("#vote-content", "#vote-language", "#vote-overall")


@pytest.mark.slow
def test_browser_plays_five_battles_with_follow_ups_and_the_store_holds_what_was_clicked(hub, api, tiny_model_dir,
                                                                                         tmp_path):
    import hashlib
    import hmac

    from playwright.sync_api import expect, sync_playwright

    from app import create_demo
    from settings import parse_settings

    settings = publish_arena_models(api, tiny_model_dir, tmp_path)
    settings["models"][1].update(max_new_tokens=10, top_p=0.9)
    settings.update(auth="gradio", vote_limit=0, leaderboard_cache_s=0, stream_interval_s=0, bootstrap_rounds=50)
    demo = create_demo(parse_settings(settings), seed=3, accounts=[("ane", "pw-ane")])
    state = demo.hubtool
    engines = [backend.engine for backend in state.backends.values()]
    artifacts = Path(os.environ.get("HUBTOOL_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    seen_chats, names_shown = [], []
    with serving(demo) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(SAFETY_MS)
            expect.set_options(timeout=SAFETY_MS)
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_label("username").fill("ane")
            page.get_by_label("password").fill("pw-ane")
            page.get_by_role("button", name="Login").click()
            page.get_by_role("tab", name="Arena").click()
            vote, send, status, names = (page.locator(s) for s in ("#arena-vote", "#arena-send", "#arena-status",
                                                                    "#arena-names"))
            prompt = page.locator("#arena-input textarea")
            expect(page.locator("#arena-profile").first).to_be_visible()  # asked before the first vote, not hidden
            expect(page.locator("#arena-who")).to_contain_text("Voting as ane")
            # whenever an answer changes on the page, record whether the vote button could be clicked
            page.evaluate("""() => {
                window.voteWhileChanging = [];
                const watch = (id) => new MutationObserver(() => window.voteWhileChanging.push(
                    !document.querySelector('#arena-vote').disabled)).observe(document.querySelector(id),
                    {subtree: true, childList: true, characterData: true});
                watch('#arena-a'); watch('#arena-b');
            }""")
            # a message over the limit is refused visibly: nothing is sent, nothing is cut
            prompt.fill("x" * 20_000)
            send.click()
            expect(page.get_by_text("Your message has 20,000 characters; the limit is 2,000").first).to_be_visible()
            assert len(prompt.input_value()) == 20_000
            assert page.locator("#arena-a [data-testid='user']").count() == 0 and state.store.count() == 0
            for i, (content, language, overall, _) in enumerate(PLAN):
                if i:
                    page.locator("#arena-new").click()
                    expect(names).to_have_text("")  # the last battle's names are gone
                    expect(page.locator("#arena-a [data-testid='user']")).to_have_count(0)
                    for group in VOTE_INPUTS:  # no choice carried over
                        expect(page.locator(f"{group} input:checked")).to_have_count(0)
                    expect(vote).to_be_disabled()
                for turn, text in enumerate((f"Kaixo {i}! Zer da euskara?", f"Eta {i}? Azaldu gehiago.")):
                    prompt.fill(text)
                    if turn == 0:  # hold both models mid-battle: the battle is certainly streaming
                        for engine in engines:
                            engine.lock.acquire()
                    send.click()
                    if turn == 0:
                        try:
                            expect(status).to_contain_text("Both models are answering")
                            expect(vote).to_be_disabled()
                            expect(send).to_be_disabled()
                            expect(page.locator("#vote-content input").first).to_be_disabled()
                            expect(names).to_have_text("")
                        finally:
                            for engine in engines:
                                engine.lock.release()
                    expect(page.locator("#arena-a [data-testid='bot']")).to_have_count(turn + 1, timeout=SAFETY_MS)
                    expect(page.locator("#arena-b [data-testid='bot']")).to_have_count(turn + 1, timeout=SAFETY_MS)
                    expect(status).to_contain_text("Judge the two answers", timeout=SAFETY_MS)
                expect(names).to_have_text("")  # still anonymous
                if i == 0:
                    page.locator("#profile-language").get_by_text("B1 or B2", exact=False).click()
                    page.locator("#profile-education").get_by_text("University studies").click()
                    page.locator("#arena-consent input").check()
                for group in ("#vote-content", "#vote-language"):  # enabled by the event after the answers
                    expect(page.locator(f"{group} input").first).to_be_enabled()
                page.locator("#vote-content").get_by_text(content, exact=True).click()
                page.locator("#vote-language").get_by_text(language, exact=True).click()
                if overall:
                    expect(page.locator("#vote-overall")).to_be_visible()  # asked only when they disagree
                    expect(vote).to_be_disabled()
                    expect(page.locator("#vote-overall input").first).to_be_enabled()
                    page.locator("#vote-overall").get_by_text(overall, exact=True).click()
                else:
                    expect(page.locator("#vote-overall")).to_be_hidden()
                expect(vote).to_be_enabled()
                chats = {side: [{"role": "user" if "user" in m.get_attribute("data-testid") else "assistant",
                                 "content": m.inner_text().strip()}
                                for m in page.locator(f"#arena-{side} [data-testid='user'], "
                                                      f"#arena-{side} [data-testid='bot']").all()]
                         for side in ("a", "b")}
                vote.click()
                expect(names).to_contain_text("Model A:")
                expect(page.locator("#arena-profile").first).to_be_hidden()
                for group in VOTE_INPUTS[:2]:  # the choices stay as clicked, locked
                    expect(page.locator(f"{group} input").first).to_be_disabled()
                expect(vote).to_be_disabled()
                expect(send).to_be_disabled()
                seen_chats.append(chats)
                names_shown.append(names.inner_text())
                if i == 4:
                    page.screenshot(path=str(artifacts / "space-arena.png"), full_page=True)
            page.get_by_role("tab", name="Leaderboard").click()  # computed when shown, no Refresh needed
            expect(page.locator("#board-ratings")).to_contain_text(settings["models"][0]["name"])
            expect(page.locator("#board-contributors")).to_contain_text("5")
            while_changing = page.evaluate("window.voteWhileChanging")
        finally:
            browser.close()
    assert while_changing and not any(while_changing)  # never votable while an answer was changing
    rows = state.store.rows()
    assert len(rows) == 5
    salt = (Path(settings["votes_db"]).parent / "pseudonym.salt").read_bytes().strip()
    ane = str(int.from_bytes(hmac.new(salt, b"ane", hashlib.sha256).digest()[:8], "big", signed=True))
    for row, (_, _, _, winners), chats, shown_names in zip(rows, PLAN, seen_chats, names_shown):
        assert (row["winner"], row["winner_content"], row["winner_language"]) == winners
        assert shown_names == f"Model A: {row['model_a']} · Model B: {row['model_b']}"
        for side in ("a", "b"):
            conv = [{"role": m["role"], "content": m["content"].strip()} for m in row[f"conv_{side}"]]
            assert conv[0]["role"] == "system" and conv[1:] == chats[side]  # every turn, as shown
            assert [m["role"] for m in conv[1:]] == ["user", "assistant"] * 2
        for side in ("model_a", "model_b"):
            expected = state.settings.sampling(row[side])
            assert {k: row["hyperparameters"][side][k] for k in expected} == expected
        assert (row["username"], row["user_language"], row["user_education"]) == (ane, "B1-B2", "Bachelor")
    assert {h["max_new_tokens"] for r in rows for h in r["hyperparameters"].values()} == {16, 10}
