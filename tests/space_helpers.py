"""Shared by the Space tests: tiny models published to the local hub, and a served app."""
from __future__ import annotations

import socket
import sys
from contextlib import contextmanager
from pathlib import Path

SPACE_DIR = Path(__file__).resolve().parent.parent / "space"
if str(SPACE_DIR) not in sys.path:
    sys.path.insert(0, str(SPACE_DIR))

BRANCHES = ("exp_2_101", "exp_2_111")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def publish_arena_models(api, base_dir: Path, work: Path, namespace: str = "hitz") -> dict:
    """The tiny base on main of one repo and two LoRA variants on branches of another; returns settings."""
    from hub_tools.samples.tiny_models import save_tiny_adapter

    base_repo, adapter_repo = f"{namespace}/space-tiny-base", f"{namespace}/space-tiny-instruct"
    api.create_repo(base_repo, exist_ok=True)
    api.upload_folder(repo_id=base_repo, folder_path=base_dir)
    api.create_repo(adapter_repo, exist_ok=True)
    models = []
    for seed, branch in enumerate(BRANCHES, start=1):
        folder = save_tiny_adapter(base_dir, work / branch, base_repo_id=base_repo, seed=seed)
        api.create_branch(adapter_repo, branch=branch, exist_ok=True)
        api.upload_folder(repo_id=adapter_repo, folder_path=folder, revision=branch)
        models.append({"name": f"variant-{branch}", "model": base_repo, "adapter": adapter_repo,
                       "adapter_revision": branch})
    return {"title": "test demo", "models": models, "max_new_tokens": 16, "temperature": 0.0,
            "votes_db": str(work / "votes.sqlite"), "bootstrap_rounds": 20,
            "consent_text": "I agree that my vote is published."}


@contextmanager
def serving(demo):
    """The app on a free loopback port for the duration of the block."""
    from app import launch

    port = free_port()
    launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


@contextmanager
def serving_asgi(app):
    """An ASGI app (e.g. hubtool's OpenAI-compatible server) under uvicorn on a free loopback port, in a thread."""
    import threading
    import time

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def message_text(message: dict) -> str:
    content = message["content"]
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content)
    return content


def plain_generate(model: str, messages: list[dict], max_new_tokens: int, adapter: str | None = None,
                   adapter_revision: str | None = None) -> str:
    """Greedy generation with plain transformers (+ peft): the independent reference for what the app shows."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(adapter or model, revision=adapter_revision if adapter else None)
    lm = AutoModelForCausalLM.from_pretrained(model)
    if adapter:
        from peft import PeftModel

        lm = PeftModel.from_pretrained(lm, adapter, revision=adapter_revision)
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    with torch.no_grad():
        out = lm.eval().generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    return tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
