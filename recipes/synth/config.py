"""The synthetic-instruction recipe's config (YAML). Relative paths resolve against the config file's folder."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from ..config_io import ConfigError, load_yaml_config  # noqa: F401  (ConfigError: the synth CLI's)
from ..config_io import StrictModel as _Strict
from ..corpus.config import ExecutorConfig

LANGUAGE_NAMES = {"eu": "Basque", "es": "Spanish", "en": "English", "fr": "French", "gl": "Galician",
                  "ca": "Catalan"}
TRANSLATE_PROMPT = ("Translate the following text into {language_name}. Keep its meaning, format and tone. "
                    "Answer with the translation only.\n\n{text}")
BACKTRANSLATE_PROMPT = ("Here is a text written in {language_name}:\n\n{text}\n\n"
                        "Write, in {language_name}, the instruction or question a user could have given for which "
                        "this text is an excellent answer. Answer with the instruction only.")
REFINE_PROMPT = ("Instruction:\n{instruction}\n\nAnswer:\n{response}\n\nRewrite the answer in {language_name} so "
                 "that it answers the instruction fully, keeping what is correct. Answer with the new answer only.")
JUDGE_PROMPT = ("Rate the following instruction and answer, written in {language_name}, from 1 (useless, wrong or "
                "not in {language_name}) to 5 (excellent: clear, correct, helpful, fluent).\n\nInstruction:\n"
                "{instruction}\n\nAnswer:\n{response}\n\nReply with a single digit from 1 to 5.")
REFUSALS = [r"\bas an ai\b", r"\bi(?: a|')m sorry\b", r"\bi can(?:no|')t (?:help|assist|do)\b",
            r"\blo siento\b", r"\bno puedo\b", r"\bezin dizut\b", r"\bbarkatu,? (?:baina )?ezin\b",
            r"\bhizkuntza[- ]eredu(?:a)? (?:bat )?naiz\b", r"\bopenai\b"]


class Backbone(_Strict):
    model: str = Field(description="Hub id or local folder of the instruct model (its tokenizer gives the template).")
    revision: str | None = None
    adapter: str | None = Field(None, description="PEFT adapter served on top (custom server only).")
    adapter_revision: str | None = None
    served_name: str | None = Field(None, description="The model name the server knows (default: model).")
    hub_id: str | None = Field(None, description="For a local `model` folder: the Hub id (id@revision) it is "
                                                 "published under, recorded in every row's `model` column.")

    def local_path(self, resolve) -> str | None:
        """The backbone's folder when ``model`` names one (relative to the config), else None (a Hub id)."""
        path = resolve(self.model)
        return str(path) if path.exists() else None


class Server(_Strict):
    type: Literal["custom", "endpoint", "vllm"] = Field(
        "custom", description="custom: hubtool's transformers server started by datatrove per task (CPU); "
                              "endpoint: an OpenAI-compatible server already running (vllm serve, replicas); "
                              "vllm: datatrove starts `vllm_command serve ...` per task (GPU; vLLM in its own "
                              "environment, see recipes/synth/vllm-requirements.txt).")
    endpoint_url: str | None = Field(None, description="endpoint: base URL without /v1, e.g. http://127.0.0.1:8000")
    api_key_env: str | None = Field(None, description="endpoint: environment variable holding the API key.")
    tp: int = Field(1, ge=1, description="vllm: tensor parallel size (GPUs per replica).")
    dp: int = Field(1, ge=1, description="vllm: data parallel replicas.")
    pp: int = Field(1, ge=1, description="vllm: pipeline parallel stages.")
    model_max_context: int = 8192
    max_concurrent: int = Field(16, ge=1, description="Requests in flight per task.")
    request_timeout: float = Field(300.0, gt=0, description="Seconds before a request is abandoned and retried.")
    retries: int = Field(3, ge=0, description="Retries of a failed or timed-out request before the row is counted "
                                              "as a generation error.")
    retry_backoff: float = Field(1.0, ge=0, description="Seconds before the first retry; doubles each time.")
    start_timeout: float = Field(600.0, gt=0, description="Seconds to wait for a started server to be ready.")
    vllm_args: dict = Field(default_factory=dict, description="vllm: extra `vllm serve` flags (without --).")
    vllm_command: str = Field("vllm", description=(
        "vllm: the vLLM command line from its own environment, e.g. ~/venvs/vllm/bin/vllm (made with "
        "`python -m venv ~/venvs/vllm && ~/venvs/vllm/bin/pip install -r recipes/synth/vllm-requirements.txt`); "
        "`python -m hub_tools.serving.vllm_cli` stands in for it on CPU."))

    @model_validator(mode="after")
    def _endpoint_needs_url(self) -> "Server":
        if self.type == "endpoint" and not self.endpoint_url:
            raise ValueError("server.type endpoint needs server.endpoint_url (e.g. http://127.0.0.1:8000)")
        return self


class Sampling(_Strict):
    temperature: float = Field(1.0, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens_instruction: int = Field(256, ge=1)
    max_tokens_response: int = Field(1024, ge=1)


class InputSpec(_Strict):
    path: str | None = Field(None, description="A jsonl or parquet file, or a folder of them.")
    hub: str | None = Field(None, description="Or a Hub dataset repo id (e.g. the corpus artifact), streamed.")
    config: str | None = Field(None, description="hub: the dataset config.")
    split: str = Field("train", description="The split read: of a Hub dataset, or of an artifact folder's data/ "
                                            "layout (a corpus's validation documents are never used unless "
                                            "asked for).")
    revision: str | None = Field(None, description="hub: branch, tag or commit, e.g. v1.0.")
    id_key: str = "id"
    text_key: str = Field("text", description="backtranslate: the document text; translate: the instruction.")
    response_key: str | None = Field(None, description="translate: the response column (translated too).")
    messages_key: str | None = Field(None, description="translate: a messages column instead of text/response.")
    limit: int | None = Field(None, ge=1, description="Use only the first N rows.")
    max_chars: int = Field(4000, ge=100, description="backtranslate: longer documents are cut at this length.")

    @model_validator(mode="after")
    def _one_location(self) -> "InputSpec":
        if (self.path is None) == (self.hub is None):
            raise ValueError("give exactly one of `path` or `hub`")
        return self


class Judge(_Strict):
    enabled: bool = False
    prompt: str = JUDGE_PROMPT
    threshold: int = Field(3, ge=1, le=5, description="Rows scored below this are dropped.")
    max_tokens: int = Field(8, ge=1)
    temperature: float = Field(0.0, ge=0)


class NearDedup(_Strict):
    enabled: bool = True
    n_grams: int = Field(3, ge=1)
    num_buckets: int = Field(14, ge=1)
    hashes_per_bucket: int = Field(8, ge=1)


class PostProcess(_Strict):
    language_check: bool = True
    languages: list[str] = Field(default_factory=lambda: ["eu", "es", "en", "fr"],
                                 description="What lingua may answer; rows not in the target language are dropped.")
    min_instruction_chars: int = Field(10, ge=0)
    max_instruction_chars: int = Field(2000, ge=1)
    min_response_chars: int = Field(10, ge=0)
    max_response_chars: int = Field(8000, ge=1)
    refusal_patterns: list[str] = Field(default_factory=lambda: list(REFUSALS))
    near_dedup: NearDedup = Field(default_factory=NearDedup)
    judge: Judge = Field(default_factory=Judge)


class SynthConfig(_Strict):
    name: str
    method: Literal["magpie", "translate", "backtranslate"]
    language: str = "eu"
    backbone: Backbone
    server: Server = Field(default_factory=Server)
    sampling: Sampling = Field(default_factory=Sampling)
    num_samples: int = Field(100, ge=1, description="magpie: instructions to generate.")
    system_prompts: list[str] = Field(default_factory=list,
                                      description="Rotated over rows; magpie puts it in the pre-query prefix.")
    input: InputSpec | None = Field(None, description="translate / backtranslate: the rows to start from.")
    translate_prompt: str = TRANSLATE_PROMPT
    backtranslate_prompt: str = BACKTRANSLATE_PROMPT
    refine: bool = Field(False, description="backtranslate: let the model rewrite the answer for its instruction.")
    refine_prompt: str = REFINE_PROMPT
    postprocess: PostProcess = Field(default_factory=PostProcess)
    records_per_chunk: int = Field(500, ge=1, description="Checkpoint granularity: a killed run loses at most this "
                                                          "many rows of work per task.")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    output: str = "out/synth"
    work_dir: str | None = Field(None, description="Intermediate files; default <output>.work")
    seed: int = 0
    source_dataset: str | None = Field(None, description="Hub id of the input data, for the card's lineage.")

    _base: Path = Path(".")

    @model_validator(mode="after")
    def _inputs(self) -> "SynthConfig":
        if self.method in ("translate", "backtranslate") and self.input is None:
            raise ValueError(f"method {self.method} needs `input` (the rows to start from)")
        return self

    @property
    def language_name(self) -> str:
        return LANGUAGE_NAMES.get(self.language, self.language)

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self._base / p).resolve()


def load_config(path: str | Path) -> SynthConfig:
    return load_yaml_config(path, SynthConfig)
