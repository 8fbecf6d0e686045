"""Regenerate the bundled corpus sample (recipes/corpus/sample/, CC0): Basque documents composed from
the project's own sentences, mixed with Spanish and English documents, junk, boilerplate, planted
exact and near duplicates and PII, in four source formats. PLANTED.json records what was planted so
tests can assert that each filter removed exactly that.

    python -m recipes.corpus.make_sample
"""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

OUT = Path(__file__).parent / "sample"
SPANISH = [
    "Hoy hace un día estupendo para pasear por la playa con la familia.",
    "El ayuntamiento ha anunciado nuevas obras en el centro de la ciudad.",
    "Los estudiantes preparan los exámenes finales en la biblioteca municipal.",
    "La cocina tradicional tiene muchos platos sencillos y sabrosos.",
    "El tren de la mañana llegó con retraso a la estación principal.",
    "Mi abuela siempre nos contaba historias antiguas de su pueblo.",
    "El museo ofrece visitas guiadas gratuitas todos los domingos.",
    "Las montañas del norte están cubiertas de nieve durante el invierno.",
    "El equipo local ganó el partido en los últimos minutos del encuentro.",
    "Los agricultores esperan que llueva pronto para salvar la cosecha.",
    "La nueva exposición de arte moderno atrae a muchos visitantes.",
    "Los niños juegan en el parque mientras sus padres charlan tranquilamente.",
]
ENGLISH = [
    "The weather has been unusually warm for this time of the year.",
    "Researchers published a new study about language models and their limits.",
    "The local library organises reading groups for children every week.",
    "Public transport in the city has improved a lot over the last decade.",
    "Many families spend their holidays near the coast during the summer.",
    "The new bridge will connect both sides of the river by next spring.",
    "Students are encouraged to practise writing short essays every day.",
    "The festival attracts musicians and artists from all over the world.",
    "Fresh bread from the bakery is one of the simple pleasures of life.",
    "Hikers should always carry water and a map when walking in the mountains.",
    "The museum reopened after a long renovation of its main building.",
    "Our neighbours planted tomatoes and beans in their small garden.",
]
JUNK = ["$$$ ### !!! @@@ %%% ^^^ &&& *** ((( ))) +++ === ~~~ ||| <<< >>>",
        "1234 5678 9012 3456 7890 1234 5678 9012 3456 7890 1234 5678",
        "Home | Login | Register | Contact | Cookies | Privacy | Terms | Sitemap",
        "Click here Click here Click here Click here Click here Click here",
        "Accept all cookies to continue browsing this website. Accept. Reject. Settings.",
        "lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum",
        ">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>",
        "ok", "...", "Menu Menu Menu Menu Menu Menu Menu Menu Menu Menu"]
PII = [("email", "Idatzi iruzkinak mezu honetara: {} eta erantzungo dizugu.", ["ane.etxeberria@adibidea.eus",
                                                                                "info@herriko-elkartea.org"]),
       ("phone", "Deitu telefono zenbaki honetara: {} goizeko hamarretatik aurrera.", ["+34 943 123 456",
                                                                                        "688 12 34 56"]),
       ("ip", "Zerbitzariaren helbidea {} da eta gauean eguneratzen da.", ["192.168.10.45", "10.2.33.7"])]


def _doc(rng: random.Random, pool: list[str], n: int) -> str:
    return " ".join(rng.sample(pool, n))


def build() -> dict:
    from hub_tools.samples.tiny_models import sample_sentences

    rng = random.Random(2024)
    eu = sample_sentences()
    basque = [_doc(rng, eu, rng.randint(11, 14)) for _ in range(260)]
    planted = {"basque_unique": len(basque), "spanish": 15, "english": 15, "junk": len(JUNK),
               "exact_duplicates": 0, "near_duplicates": 0, "pii": {"email": 0, "phone": 0, "ip": 0}}
    for i, (kind, template, values) in enumerate(PII * 3):  # 9 documents carry PII
        value = values[i % len(values)]
        basque[i * 7] = f"{basque[i * 7]} {template.format(value)}"
        planted["pii"][kind] += 1
    OUT.mkdir(exist_ok=True)
    # source 1: wiki-like jsonl.gz (150 docs + 12 exact copies of its own docs)
    wiki = [{"id": f"wiki-{i:04d}", "text": t, "url": f"https://eu.example.org/wiki/{i}"} for i, t in
            enumerate(basque[:150])]
    copies = [{"id": f"wiki-copy-{i}", "text": wiki[i * 9]["text"], "url": "https://mirror.example.org"}
              for i in range(12)]
    planted["exact_duplicates"] += len(copies)
    with gzip.open(OUT / "eu_wiki.jsonl.gz", "wt", encoding="utf-8") as f:
        for row in wiki[:80] + copies + wiki[80:]:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    # source 2: news as plain text, documents separated by blank lines (80 docs + 10 near duplicates)
    news = basque[150:230]
    near = []
    for i in range(10):
        words = news[i * 7].split()
        j = len(words) // 2
        words[j] = "berriz" if words[j] != "berriz" else "gaur"
        near.append(" ".join(words))
    planted["near_duplicates"] += len(near)
    (OUT / "eu_news.txt").write_text("\n\n".join(news + near) + "\n", encoding="utf-8")
    # source 3: a forum mixing languages, junk, and copies of news documents (exact duplicates)
    forum = [{"id": f"forum-es-{i}", "text": _doc(rng, SPANISH, 8)} for i in range(planted["spanish"])]
    forum += [{"id": f"forum-en-{i}", "text": _doc(rng, ENGLISH, 8)} for i in range(planted["english"])]
    forum += [{"id": f"forum-junk-{i}", "text": t} for i, t in enumerate(JUNK)]
    forum += [{"id": f"forum-copy-{i}", "text": news[20 + i * 3]} for i in range(8)]
    planted["exact_duplicates"] += 8
    rng.shuffle(forum)
    with open(OUT / "forum_mixed.jsonl", "w", encoding="utf-8") as f:
        for row in forum:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    # source 4: parquet (30 docs)
    pq.write_table(pa.Table.from_pylist([{"id": f"books-{i}", "text": t} for i, t in enumerate(basque[230:])]),
                   OUT / "eu_books.parquet")
    planted["total_documents"] = 150 + 12 + 80 + 10 + len(forum) + 30
    planted["expected_kept"] = planted["basque_unique"]
    (OUT / "PLANTED.json").write_text(json.dumps(planted, indent=2) + "\n")
    (OUT / "LICENSE.txt").write_text("Written for the hubtool project from its own sentences; CC0 1.0 "
                                     "(public domain dedication). Addresses and numbers are fictitious.\n")
    return planted


if __name__ == "__main__":
    print(json.dumps(build(), indent=2))
