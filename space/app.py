"""The demo Space: streaming chat, a human-preference arena and its leaderboard (Gradio Blocks).

Run it with `hubtool space run` (models from the local hub) or `python app.py` inside a Space.
Settings: space.yaml (see settings.py). Votes: one SQLite transaction each (votes.py), exported to a
Hub dataset repo in batches when `votes_repo` is set.

API (for gradio_client and scripts): /chat streams the chat answer; /arena_send starts a battle and
streams both answers; /arena_vote records the vote of the current battle and reveals the models;
/leaderboard returns the ranking table and plots of one dimension.
"""
from __future__ import annotations

import logging
import random
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gradio as gr  # noqa: E402

import leaderboard  # noqa: E402
from backends import ChatBackend, interleave, load_backends  # noqa: E402
from settings import SpaceSettings, load_settings  # noqa: E402
from votes import Vote, VoteStore, vote_exporter  # noqa: E402

log = logging.getLogger("hubtool.space")
CHOICES = {"A is better": "model_a", "B is better": "model_b", "Tie": "tie", "Both are bad": "tie (bothbad)"}
LANGUAGE_LEVELS = ["", "native", "C2", "C1", "B2", "B1", "A2", "A1"]
EDUCATION = ["", "secondary", "vocational", "bachelor", "master", "doctorate", "other"]


def _text(content) -> str:
    """Message content as text (Gradio may hand back a list of typed parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def _conversation(system_prompt: str, history: list[dict], user: str) -> list[dict]:
    turns = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    turns += [{"role": m["role"], "content": _text(m["content"])} for m in history if m.get("role") in ("user", "assistant")]
    return turns + [{"role": "user", "content": user}]


class Demo:
    """The app's state shared by all sessions: settings, loaded backends and the vote store."""

    def __init__(self, settings: SpaceSettings, backends: dict[str, ChatBackend] | None = None, seed: int | None = None):
        self.settings = settings
        self.backends = backends if backends is not None else load_backends(settings)
        self.store = VoteStore(settings.votes_db)
        self.rng = random.Random(seed)
        self.exporter = None
        if settings.votes_repo:
            self.exporter = vote_exporter(self.store, settings.votes_repo, Path(settings.votes_db).parent / "export",
                                          every_minutes=settings.export_every_minutes)

    def _check_input(self, message: str) -> str:
        message = (message or "").strip()
        if not message:
            raise gr.Error("Write a message first.")
        if len(message) > self.settings.max_input_chars:
            raise gr.Error(f"The message has {len(message)} characters; the limit is {self.settings.max_input_chars}.")
        return message

    # -- chat ------------------------------------------------------------------------------
    def chat(self, message: str, history: list[dict], model: str, system_prompt: str, max_new_tokens: int,
             temperature: float):
        message = self._check_input(message)
        if model not in self.backends:
            raise gr.Error(f"Unknown model {model!r}.")
        conversation = _conversation(system_prompt, history or [], message)
        history = list(history or []) + [{"role": "user", "content": message}, {"role": "assistant", "content": ""}]
        answer = ""
        for piece in self.backends[model].stream(conversation, int(max_new_tokens), float(temperature),
                                                 self.settings.top_p):
            answer += piece
            history[-1] = {"role": "assistant", "content": answer}
            yield history, ""
        yield history, ""

    # -- arena -----------------------------------------------------------------------------
    def arena_send(self, prompt: str, battle: dict | None):
        prompt = self._check_input(prompt)
        if battle and not battle.get("voted") and battle.get("conv_a"):
            raise gr.Error("Vote on this battle first, or start a new one.")
        model_a, model_b = self.rng.sample(sorted(self.backends), 2)
        system = self.settings.system_prompt
        conv = _conversation(system, [], prompt)
        battle = {"id": uuid.uuid4().hex, "model_a": model_a, "model_b": model_b, "voted": False,
                  "conv_a": None, "conv_b": None}
        gen = [self.backends[m].stream(conv, self.settings.max_new_tokens, self.settings.temperature,
                                       self.settings.top_p) for m in (model_a, model_b)]
        def shown(text: str) -> list[dict]:
            return [{"role": "user", "content": prompt}, {"role": "assistant", "content": text}]

        text_a = text_b = ""
        for text_a, text_b in interleave(*gen):
            yield shown(text_a), shown(text_b), battle, ""
        battle = {**battle, "conv_a": conv + [{"role": "assistant", "content": text_a}],
                  "conv_b": conv + [{"role": "assistant", "content": text_b}]}
        yield shown(text_a), shown(text_b), battle, "Vote below: which answer is better?"

    def arena_vote(self, content: str, language: str, overall: str, consent: bool, user_language: str,
                   user_education: str, battle: dict | None, request: gr.Request | None = None):
        if not battle or not battle.get("conv_a"):
            raise gr.Error("Start a battle first: send a prompt and wait for both answers.")
        if self.settings.consent_text and not consent:
            raise gr.Error("Tick the consent box to vote.")
        unknown = [v for v in (content, language, overall) if v and v not in CHOICES]
        if unknown or not overall:
            raise gr.Error(f"Choose the overall winner; choices are {', '.join(CHOICES)}.")
        vote = Vote(id=battle["id"], model_a=battle["model_a"], model_b=battle["model_b"], conv_a=battle["conv_a"],
                    conv_b=battle["conv_b"], winner=CHOICES[overall],
                    winner_content=CHOICES.get(content), winner_language=CHOICES.get(language),
                    username=getattr(request, "username", None) if consent or not self.settings.consent_text else None,
                    user_language=user_language or None, user_education=user_education or None)
        stored = self.store.add(vote)
        reveal = (f"**Model A:** {battle['model_a']} · **Model B:** {battle['model_b']}"
                  + ("" if stored else " (this vote was already recorded)"))
        return {**battle, "voted": True}, reveal

    def leaderboard(self, dimension: str):
        result = leaderboard.rank_dimension(self.store.rows(), dimension, self.settings.bootstrap_rounds)
        return (leaderboard.table(result), leaderboard.matrix_figure(result, "win_rate"),
                leaderboard.matrix_figure(result, "battles"))

    # -- UI ----------------------------------------------------------------------------------
    def blocks(self) -> gr.Blocks:
        s = self.settings
        names = [m.name for m in s.models]
        with gr.Blocks(title=s.title) as demo:
            gr.Markdown(f"# {s.title}\n\n{s.description}".strip())
            with gr.Tab("Chat"):
                with gr.Row():
                    model = gr.Dropdown(names, value=names[0], label="Model")
                    max_new_tokens = gr.Slider(1, max(s.max_new_tokens, 1), value=s.max_new_tokens, step=1,
                                               label="Max new tokens")
                    temperature = gr.Slider(0.0, 2.0, value=s.temperature, step=0.05, label="Temperature")
                system_prompt = gr.Textbox(s.system_prompt, label="System prompt", lines=2)
                chatbot = gr.Chatbot(label="Chat", elem_id="chatbot")
                message = gr.Textbox(label="Message", placeholder="Idatzi zure mezua...",
                                     max_length=s.max_input_chars, elem_id="chat-input")
                with gr.Row():
                    send = gr.Button("Send", variant="primary", elem_id="chat-send")
                    stop = gr.Button("Stop", elem_id="chat-stop")
                    clear = gr.Button("Clear")
                inputs = [message, chatbot, model, system_prompt, max_new_tokens, temperature]
                sent = send.click(self.chat, inputs, [chatbot, message], api_name="chat")
                submitted = message.submit(self.chat, inputs, [chatbot, message], api_visibility="private")
                stop.click(None, None, None, cancels=[sent, submitted])
                clear.click(lambda: ([], ""), None, [chatbot, message], api_visibility="private")
            if s.arena:
                self._arena_tab()
                with gr.Tab("Leaderboard"):
                    dimension = gr.Radio(list(leaderboard.DIMENSIONS), value="overall", label="Dimension")
                    table = gr.Dataframe(headers=leaderboard.COLUMNS, label="Bradley-Terry ratings (Elo scale, "
                                                                              "95% bootstrap CI)")
                    with gr.Row():
                        win_rate = gr.Plot(label="Win rate")
                        battles = gr.Plot(label="Battles")
                    refresh = gr.Button("Refresh")
                    outputs = [table, win_rate, battles]
                    refresh.click(self.leaderboard, dimension, outputs, api_name="leaderboard")
                    dimension.change(self.leaderboard, dimension, outputs, api_visibility="private")
                    demo.load(self.leaderboard, dimension, outputs, api_visibility="private")
        return demo

    def _arena_tab(self) -> None:
        s = self.settings
        with gr.Tab("Arena"):
            gr.Markdown("Two anonymous models answer the same prompt. Vote, and their names are revealed.")
            battle = gr.State(None)
            with gr.Row():
                chat_a = gr.Chatbot(label="Model A", elem_id="arena-a")
                chat_b = gr.Chatbot(label="Model B", elem_id="arena-b")
            prompt = gr.Textbox(label="Prompt", max_length=s.max_input_chars, elem_id="arena-input")
            send = gr.Button("Send to both", variant="primary")
            status = gr.Markdown()
            with gr.Row():
                content = gr.Radio(list(CHOICES), label="Content (is it right and useful?)")
                language = gr.Radio(list(CHOICES), label="Language (is the Basque correct and natural?)")
                overall = gr.Radio(list(CHOICES), label="Overall")
            with gr.Accordion("About you (optional)", open=False):
                user_language = gr.Dropdown(LANGUAGE_LEVELS, value="", label="Your Basque level")
                user_education = gr.Dropdown(EDUCATION, value="", label="Education")
            consent = gr.Checkbox(label=s.consent_text or "I agree that my vote is published", value=False,
                                  visible=bool(s.consent_text))
            vote = gr.Button("Vote")
            reveal = gr.Markdown()
            send.click(self.arena_send, [prompt, battle], [chat_a, chat_b, battle, status], api_name="arena_send")
            vote.click(self.arena_vote, [content, language, overall, consent, user_language, user_education, battle],
                       [battle, reveal], api_name="arena_vote", concurrency_limit=None)


def create_demo(settings: SpaceSettings | None = None, **kwargs) -> gr.Blocks:
    demo_state = Demo(settings or load_settings(), **kwargs)
    demo = demo_state.blocks()
    demo.hubtool = demo_state  # tests and `hubtool space run` reach the store and the exporter through it
    return demo


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    create_demo().queue(default_concurrency_limit=4).launch()
