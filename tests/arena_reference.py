"""The reference arena dataset, written down: HiTZ/ebaluatoia (Latxa-Instruct's "Ebaluatoia", 12,890 votes).

Sources, as read for this project:
- the dataset card's YAML (huggingface.co/datasets/HiTZ/ebaluatoia, README.md at commit c136472): two
  configs, `25-03` (data/25-03.jsonl.gz) and `25-03-sanitized` (data/25-03.sanitized.jsonl.gz), each with
  the features below, copied as the card writes them;
- the dataset viewer's first rows (values below);
- the arena's code (github.com/hitz-zentroa/latxa-instruct, evaluation/human/frontend/arena_with_user.py,
  `save_history` and `activate_deactivate_send_feedback`): the overall question is shown only when content
  and language name different models; the stored winner is content's when the two agree, else the
  overall answer, which defaults to the judgement that is not a tie.
Not found in those sources: the published form of the profile values other than `C1-C2` and `Bachelor`
(hubtool writes the other registration choices the same way), and the timestamp's time zone (hubtool
writes UTC).
"""
from __future__ import annotations

CARD_FEATURES_YAML = """
- name: id
  dtype: string
- name: username
  dtype: string
- name: user_language
  dtype: string
- name: user_education
  dtype: string
- name: timestamp
  dtype: string
- name: model_a
  dtype: string
- name: model_b
  dtype: string
- name: conv_a
  list:
  - name: role
    dtype: string
  - name: content
    dtype: string
- name: conv_b
  list:
  - name: role
    dtype: string
  - name: content
    dtype: string
- name: winner
  dtype: string
- name: winner_content
  dtype: string
- name: winner_language
  dtype: string
"""
CONFIG_NAMES = ("25-03", "25-03-sanitized")
VIEWER_ROWS = [  # (id, username, user_language, user_education, timestamp, model_a, model_b, winner, content, language)
    ("5d0bca4e-acd8-4028-9738-2007a32f87fe", "-6428509523293213064", "C1-C2", "Bachelor",
     "2025-03-19T07:07:35.974527", "exp_0_011", "exp_2_010", "model_a", "model_a", "tie"),
    ("83f1e2c1-b720-4387-bfe8-09c1c4540e38", "-4130426945282193899", "C1-C2", "Bachelor",
     "2025-03-19T07:27:21.686783", "exp_2_101", "exp_1_001", "model_b", "model_b", "model_b"),
]
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
USERNAME_PATTERN = r"^-?\d{1,19}$"
TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}$"
PERIOD_CONFIG_PATTERN = r"^\d{2}-\d{2}(-sanitized)?$"
# Profile values: the reference shows these; hubtool's vocabulary must contain them.
SHOWN_LANGUAGE_LEVELS = ("C1-C2",)
SHOWN_EDUCATION_LEVELS = ("Bachelor",)


def reference_winner(content: str, language: str, overall: str | None) -> str:
    """The reference arena's rule, restated from its code for its three choices (model_a, tie, model_b)."""
    asked = content != language and "tie" not in (content, language)
    general = overall if asked else (content if content != "tie" else language)
    return content if content == language else general
