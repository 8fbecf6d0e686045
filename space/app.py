"""The demo Space: streaming chat, a human-preference arena and its leaderboard (Gradio Blocks).

Run it with `hubtool space run` (models from the local hub) or `python app.py` inside a Space.
Settings: space.yaml (settings.py). The battle state machine: battle.py; who votes (sign-in, pseudonyms,
profile vocabulary, rate limit): identity.py; votes: votes.py (one SQLite transaction each, exported to a
Hub dataset repo in batches when `votes_repo` is set); backends: backends.py; leaderboard: leaderboard.py.
This module only builds the UI and wires it to those.

API (for gradio_client and scripts): /chat streams the chat answer; /arena_send sends a turn to both
models of the session's battle (the first turn starts it) and streams both answers; /arena_vote records
the vote and reveals the models; /arena_new starts a new round; /leaderboard returns the ratings,
win-rate and battle-count tables of one dimension and the contributors table.
"""
from __future__ import annotations

import gc
import logging
import os
import random
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Gradio recomputes its monitoring summary (a pandas group-by over recent events) after every event by
# default; a streaming arena runs thousands of events, so recompute it every 200 instead.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "200")

import gradio as gr  # noqa: E402

from backends import ChatBackend, StreamError, load_backends, merge  # noqa: E402
from battle import CHOICES, NEW, VOTE_OPEN, VOTED, Battle, BattleError, choice_value, needs_overall  # noqa: E402
from identity import (EDUCATION_LEVELS, LANGUAGE_LEVELS, USERS_ENV, RateLimiter, Voter,  # noqa: E402
                      client_address, forwarded_for, load_salt, parse_accounts, profile_value,
                      proxy_hops_default, pseudonym)
from leaderboard import COLUMNS, CONTRIBUTOR_COLUMNS, DIMENSIONS, Leaderboard  # noqa: E402
from settings import DEFAULT_RULES, SettingsError, SpaceSettings, load_settings  # noqa: E402
from votes import Vote, VoteStore, vote_exporter  # noqa: E402

log = logging.getLogger("hubtool.space")


def _text(content) -> str:
    """Message content as text (Gradio may hand back a list of typed parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def _error(err: Exception) -> gr.Error:
    return gr.Error(str(err), title="Not sent" if isinstance(err, BattleError) else "Refused")


class Demo:
    """The app's state shared by all sessions: settings, backends, the vote store, the limiter, the leaderboard."""

    def __init__(self, settings: SpaceSettings, backends: dict[str, ChatBackend] | None = None, seed: int | None = None,
                 accounts: list[tuple[str, str]] | None = None):
        self.settings = settings
        if settings.auth == "gradio":
            accounts = accounts if accounts is not None else parse_accounts(os.environ.get(USERS_ENV))
            if not accounts:
                raise SettingsError(f"auth: gradio needs the accounts in {USERS_ENV} (name:password, comma-separated; "
                                    "a Space secret)")
        self.accounts = accounts or []
        self.backends = backends if backends is not None else load_backends(settings)
        self.store = VoteStore(settings.votes_db)
        self.salt = load_salt(settings.votes_db)
        self.limiter = RateLimiter(settings.vote_limit, settings.vote_limit_window_s)
        self.proxy_hops = proxy_hops_default() if settings.proxy_hops is None else settings.proxy_hops
        self.board = Leaderboard(self.store, settings.bootstrap_rounds, settings.leaderboard_cache_s)
        self.rng, self._rng_lock = random.Random(seed), threading.Lock()
        self.exporter = None
        if settings.votes_repo:
            self.exporter = vote_exporter(self.store, settings.votes_repo, Path(settings.votes_db).parent / "export",
                                          every_minutes=settings.export_every_minutes)

    def launch_kwargs(self) -> dict:
        """What `launch()` needs beyond host and port (Gradio's login form for `auth: gradio`)."""
        return {"auth": self.accounts, "auth_message": "Sign in to vote in the arena."} if self.accounts else {}

    def voter(self, request: gr.Request | None, profile: gr.OAuthProfile | None = None) -> Voter:
        name = None
        if self.settings.auth == "hf_oauth" and profile is not None:
            name = profile.username
        elif self.settings.auth == "gradio" and request is not None:
            name = request.username
        peer = request.client.host if request is not None and request.client else None
        forwarded = forwarded_for(request) if request is not None else None
        client = client_address(peer, forwarded, self.proxy_hops)
        return Voter(user=pseudonym(name, self.salt) if name else None, client=client, name=name)

    # -- chat ------------------------------------------------------------------------------
    def check_chat(self, message: str) -> None:
        message = (message or "").strip()
        if not message:
            raise gr.Error("Write a message first.", title="Not sent")
        if len(message) > self.settings.max_input_chars:
            raise gr.Error(f"Your message has {len(message):,} characters; the limit is "
                           f"{self.settings.max_input_chars:,}. Shorten it and send it again (nothing was sent).",
                           title="Not sent")

    def chat(self, message: str, history: list[dict], model: str, system_prompt: str, max_new_tokens: int,
             temperature: float):
        self.check_chat(message)
        message = message.strip()
        if model not in self.backends:
            raise gr.Error(f"Unknown model {model!r}.")
        conversation = [{"role": "system", "content": system_prompt}] if (system_prompt or "").strip() else []
        conversation += [{"role": m["role"], "content": _text(m["content"])} for m in history or []
                         if m.get("role") in ("user", "assistant")]
        conversation.append({"role": "user", "content": message})
        history = list(history or []) + [{"role": "user", "content": message}, {"role": "assistant", "content": ""}]
        sampling = {"max_new_tokens": int(max_new_tokens), "temperature": float(temperature),
                    "top_p": self.settings.top_p}
        answer = ""
        for piece in self.backends[model].stream(conversation, sampling):
            answer += piece
            history[-1] = {"role": "assistant", "content": answer}
            yield history, ""
        yield history, ""

    # -- arena: turns ----------------------------------------------------------------------
    def check_turn(self, prompt: str, battle: Battle | None) -> None:
        """Refuse a turn before anything changes on the page (the reason appears as a notice)."""
        try:
            (battle or Battle()).check_turn(prompt, self.settings.max_input_chars, self.settings.max_turns)
        except BattleError as err:
            raise _error(err)

    def arena_send(self, prompt: str, battle: Battle | None):
        s = self.settings
        battle = battle or Battle()
        try:
            prompt = battle.check_turn(prompt, s.max_input_chars, s.max_turns)
        except BattleError as err:
            raise _error(err)
        with self._rng_lock:
            battle = battle.start_turn(prompt, list(self.backends), s.sampling, s.system_prompt, self.rng)
        answering = "Both models are answering…"
        yield battle.shown("a", ""), battle.shown("b", ""), battle, answering, ""
        streams = [self.backends[m].stream(battle.history(side), sampling) for m, side, sampling in
                   ((battle.model_a, "a", battle.sampling_a), (battle.model_b, "b", battle.sampling_b))]
        text_a = text_b = ""
        try:
            for text_a, text_b in merge(*streams, interval_s=s.stream_interval_s):
                # status and prompt repeated, not gr.skip(): any update dict builds a component per session
                yield battle.shown("a", text_a), battle.shown("b", text_b), gr.skip(), answering, ""
        except StreamError as err:
            log.warning("battle %s: %s", battle.id, err)
            battle = battle.fail(str(err))
            yield (battle.shown("a", text_a), battle.shown("b", text_b), battle,
                   "One of the models could not answer, so this battle cannot be judged. Press “New round”.",
                   gr.skip())
            return
        battle = battle.finish_turn(text_a, text_b)
        more = battle.turns < s.max_turns
        yield (battle.shown("a"), battle.shown("b"), battle,
               "Judge the two answers below" + (", or ask a follow-up question (both models answer it)." if more
                                                else f" (this battle has reached its {s.max_turns} turns)."), "")

    def new_round(self):
        # plain values, not gr.update(): Gradio builds a new component per session for every property update;
        # the `controls` step that follows hides the overall question again
        return Battle(), [], [], "", "", None, None, None, ""

    # -- arena: the vote -------------------------------------------------------------------
    def _vote_record(self, content, language, overall, consent, user_language, user_education, battle, voter):
        """The Vote to store, or the reason it cannot be (BattleError, ValueError)."""
        battle = battle or Battle()
        winners = battle.check_vote(content, language, overall)
        if self.settings.consent_text and not consent:
            raise BattleError("Tick the consent box to vote (it says what is published).")
        lang = profile_value(user_language, LANGUAGE_LEVELS)
        edu = profile_value(user_education, EDUCATION_LEVELS)
        if voter.user:
            stored = self.store.profile(voter.user) or {}
            lang, edu = lang or stored.get("user_language"), edu or stored.get("user_education")
        return Vote(id=battle.id, model_a=battle.model_a, model_b=battle.model_b, conv_a=battle.history("a"),
                    conv_b=battle.history("b"), username=voter.user, user_language=lang, user_education=edu,
                    hyperparameters={"model_a": dict(battle.sampling_a), "model_b": dict(battle.sampling_b)},
                    **winners)

    def check_vote(self, content: str, language: str, overall: str, consent: bool, user_language: str,
                   user_education: str, battle: Battle | None, request: gr.Request,
                   profile: gr.OAuthProfile | None = None) -> None:
        voter = self.voter(request, profile)
        try:
            self._vote_record(content, language, overall, consent, user_language, user_education, battle, voter)
            self.limiter.check(voter)
        except (BattleError, ValueError, PermissionError) as err:
            raise _error(err)

    def arena_vote(self, content: str, language: str, overall: str, consent: bool, user_language: str,
                   user_education: str, battle: Battle | None, request: gr.Request,
                   profile: gr.OAuthProfile | None = None):
        voter = self.voter(request, profile)
        try:
            vote = self._vote_record(content, language, overall, consent, user_language, user_education, battle,
                                     voter)
            self.limiter.acquire(voter)
        except (BattleError, ValueError, PermissionError) as err:
            raise _error(err)
        try:
            self.store.add(vote)
        except Exception:
            self.limiter.release(voter)
            raise
        if voter.user and (vote.user_language or vote.user_education):
            self.store.save_profile(voter.user, vote.user_language, vote.user_education)
        battle = battle.voted()
        return (battle, battle.reveal(),
                "Thank you: your vote is stored. Press “New round” for another battle.", gr.update(visible=False))

    def on_load(self, request: gr.Request, profile: gr.OAuthProfile | None = None):
        """Who is voting, and the profile form unless this user already answered it."""
        voter = self.voter(request, profile)
        if voter.user:
            who = f"Voting as **{voter.name}**; your votes are published under the pseudonym `{voter.user}`."
        elif self.settings.auth == "hf_oauth":
            who = "Voting anonymously. Sign in with Hugging Face to have your votes counted in the contributors table."
        else:
            who = "Voting anonymously."
        stored = self.store.profile(voter.user) if voter.user else None
        if stored and stored.get("user_language") and stored.get("user_education"):
            return who, gr.update(visible=False), stored["user_language"], stored["user_education"]
        return who, gr.update(visible=True), gr.skip(), gr.skip()

    def controls(self, battle: Battle | None, content: str | None, language: str | None, overall: str | None):
        """The controls as the battle's phase allows: [send, prompt, vote, content, language, overall]."""
        phase = battle.phase if battle else NEW
        turns = battle.turns if battle else 0
        can_send = phase in (NEW, VOTE_OPEN) and turns < self.settings.max_turns
        judging = phase == VOTE_OPEN
        ask = phase in (VOTE_OPEN, VOTED) and needs_overall(choice_value(content), choice_value(language))
        complete = judging and bool(content and language and (overall or not ask))
        return (gr.update(interactive=can_send), gr.update(interactive=can_send), gr.update(interactive=complete),
                gr.update(interactive=judging), gr.update(interactive=judging),
                gr.update(interactive=judging, visible=ask))

    def leaderboard(self, dimension: str):
        try:
            return self.board.get(dimension)
        except ValueError as err:
            raise gr.Error(str(err))

    # -- UI ----------------------------------------------------------------------------------
    def blocks(self) -> gr.Blocks:
        s = self.settings
        names = [m.name for m in s.models]
        with gr.Blocks(title=s.title) as demo:
            gr.Markdown(f"# {s.title}\n\n{s.description}".strip())
            with gr.Tab("Chat"):
                self._chat_tab(names)
            if s.arena:
                self._arena_tab(demo)
                self._leaderboard_tab(demo)
        return demo

    def _chat_tab(self, names: list[str]) -> None:
        s = self.settings
        with gr.Row():
            model = gr.Dropdown(names, value=names[0], label="Model")
            max_new_tokens = gr.Slider(1, max(s.max_new_tokens, 1), value=s.max_new_tokens, step=1,
                                       label="Max new tokens")
            temperature = gr.Slider(0.0, 2.0, value=s.temperature, step=0.05, label="Temperature")
        system_prompt = gr.Textbox(s.system_prompt, label="System prompt", lines=2)
        chatbot = gr.Chatbot(label="Chat", elem_id="chatbot")
        # no max_length: the browser would cut a long paste silently; the server refuses it visibly instead
        message = gr.Textbox(label="Message", placeholder="Idatzi zure mezua...", elem_id="chat-input",
                             info=f"Up to {s.max_input_chars:,} characters.")
        with gr.Row():
            send = gr.Button("Send", variant="primary", elem_id="chat-send")
            stop = gr.Button("Stop", elem_id="chat-stop")
            clear = gr.Button("Clear")
        inputs = [message, chatbot, model, system_prompt, max_new_tokens, temperature]
        events = []
        for trigger, api in ((send.click, "chat"), (message.submit, None)):
            checked = trigger(self.check_chat, message, None, api_visibility="private", show_progress="hidden")
            events.append(checked.success(self.chat, inputs, [chatbot, message], api_name=api or False,
                                          api_visibility="public" if api else "private"))
        stop.click(None, None, None, cancels=events)
        clear.click(lambda: ([], ""), None, [chatbot, message], api_visibility="private")

    def _arena_tab(self, demo: gr.Blocks) -> None:
        s = self.settings
        with gr.Tab("Arena"):
            gr.Markdown(s.rules_text or DEFAULT_RULES, elem_id="arena-rules")
            if s.auth == "hf_oauth":
                gr.LoginButton()
            who = gr.Markdown(elem_id="arena-who")
            with gr.Group(visible=True, elem_id="arena-profile") as profile_box:
                gr.Markdown("**About you** (asked once; published with your votes, never your name):")
                user_language = gr.Radio(list(LANGUAGE_LEVELS), label="Your level of Basque",
                                         elem_id="profile-language")
                user_education = gr.Radio(list(EDUCATION_LEVELS), label="Your education (highest, or current studies)",
                                          elem_id="profile-education")
            battle = gr.State(None)
            with gr.Row():
                chat_a = gr.Chatbot(label="Model A", elem_id="arena-a")
                chat_b = gr.Chatbot(label="Model B", elem_id="arena-b")
            names = gr.Markdown(elem_id="arena-names")
            prompt = gr.Textbox(label="Your message (to both models)", elem_id="arena-input",
                                info=f"Up to {s.max_input_chars:,} characters, {s.max_turns} turns per battle.")
            with gr.Row():
                send = gr.Button("Send to both", variant="primary", elem_id="arena-send")
                new_round = gr.Button("New round", elem_id="arena-new")
            status = gr.Markdown(elem_id="arena-status")
            with gr.Row():
                content = gr.Radio(list(CHOICES), label="Content: which answer is right and more useful?",
                                   interactive=False, elem_id="vote-content")
                language = gr.Radio(list(CHOICES), label="Basque: which answer's language is better?",
                                    interactive=False, elem_id="vote-language")
                overall = gr.Radio(list(CHOICES), label="They differ: which answer is better overall?",
                                   interactive=False, visible=False, elem_id="vote-overall")
            consent = gr.Checkbox(label=s.consent_text or "", value=False, visible=bool(s.consent_text),
                                  elem_id="arena-consent")
            vote = gr.Button("Vote", interactive=False, variant="primary", elem_id="arena-vote")

            control_outputs = [send, prompt, vote, content, language, overall]
            choices = [battle, content, language, overall]
            locked = [gr.update(interactive=False)] * len(control_outputs)
            turns = []
            for trigger, api in ((send.click, "arena_send"), (prompt.submit, None)):
                checked = trigger(self.check_turn, [prompt, battle], None, api_visibility="private",
                                  show_progress="hidden")
                locking = checked.success(lambda: locked, None, control_outputs, api_visibility="private",
                                          show_progress="hidden")
                turn = locking.then(self.arena_send, [prompt, battle], [chat_a, chat_b, battle, status, prompt],
                                    api_name=api, api_visibility="public" if api else "private",
                                    concurrency_limit=s.max_concurrent_battles, concurrency_id="battles")
                turn.then(self.controls, choices, control_outputs, api_visibility="private", show_progress="hidden")
                turns.append(turn)
            # always_last: a choice made while the previous one's event is still running is applied after it
            # (Gradio's default, "once", drops it, and the Vote button kept the state of the earlier choice)
            gr.on([content.input, language.input, overall.input], self.controls, choices, control_outputs,
                  api_visibility="private", show_progress="hidden", trigger_mode="always_last")
            vote_inputs = [content, language, overall, consent, user_language, user_education, battle]
            # The vote and the new round never stream: queue=False answers them on the request itself, not behind
            # the queue's streaming battles (benchmarks/arena_load.py); gradio_client's queue/join reaches them too
            quick = dict(queue=False, concurrency_limit=None)
            after = dict(api_visibility="private", show_progress="hidden", queue=False)
            vote.click(self.check_vote, vote_inputs, None, **after).success(
                self.arena_vote, vote_inputs, [battle, names, status, profile_box], api_name="arena_vote",
                **quick).then(self.controls, choices, control_outputs, **after)
            new_round.click(self.new_round, None, [battle, chat_a, chat_b, names, status, content, language, overall,
                                                   prompt], api_name="arena_new", cancels=turns, **quick).then(
                self.controls, choices, control_outputs, **after)
            demo.load(self.on_load, None, [who, profile_box, user_language, user_education], api_visibility="private")

    def _leaderboard_tab(self, demo: gr.Blocks) -> None:
        with gr.Tab("Leaderboard") as tab:
            dimension = gr.Radio(list(DIMENSIONS), value="overall", label="Dimension", elem_id="board-dimension")
            ratings, win_rate, battles, contributors = self.board.get("overall")
            table = gr.Dataframe(ratings, headers=COLUMNS, interactive=False, elem_id="board-ratings",
                                 label="Bradley-Terry ratings (Elo scale, 95% bootstrap interval)")
            with gr.Row():
                win = gr.Dataframe(win_rate, label="Win rate (row model beats column model; ties count half)",
                                   interactive=False, elem_id="board-win-rate")
                count = gr.Dataframe(battles, label="Battles (row model against column model)", interactive=False,
                                     elem_id="board-battles")
            people = gr.Dataframe(contributors, headers=CONTRIBUTOR_COLUMNS, label="Contributors (signed-in voters)",
                                  interactive=False, elem_id="board-contributors")
            refresh = gr.Button("Refresh")
            outputs = [table, win, count, people]
            refresh.click(self.leaderboard, dimension, outputs, api_name="leaderboard")
            dimension.change(self.leaderboard, dimension, outputs, api_visibility="private")
            tab.select(self.leaderboard, dimension, outputs, api_visibility="private")
            demo.load(self.leaderboard, dimension, outputs, api_visibility="private")


def create_demo(settings: SpaceSettings | None = None, **kwargs) -> gr.Blocks:
    demo_state = Demo(settings or load_settings(), **kwargs)
    demo = demo_state.blocks()
    demo.hubtool = demo_state  # tests and `hubtool space run` reach the store and the exporter through it
    return demo


def launch(demo: gr.Blocks, **kwargs):
    """Queue and launch ``demo`` with the sign-in its settings ask for (kwargs go to Blocks.launch)."""
    state = demo.hubtool
    battles = state.settings.max_concurrent_battles
    demo.queue(default_concurrency_limit=battles)
    kwargs.setdefault("max_threads", 2 * battles + 40)  # a streaming battle holds a thread: room for votes, pages
    app = demo.launch(**state.launch_kwargs(), **{**kwargs, "prevent_thread_lock": True})
    if kwargs.get("prevent_thread_lock"):  # embedded (tests, notebooks): the caller owns the process
        return app
    # the server for the process's life: libraries and app frozen out of the collector's sight, so a full
    # collection no longer walks them (one stopped the Space for ~200 ms, a vote's p99 under load)
    gc.collect()
    gc.freeze()
    demo.block_thread()
    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    launch(create_demo())
