"""Exact match after light normalisation (case, surrounding whitespace and final punctuation)."""
import datasets
import evaluate


def _norm(text: str) -> str:
    return " ".join(text.strip().lower().rstrip(".!?").split())


class ExactMatch(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Share of predictions that equal one of their references after normalisation.", citation="",
            inputs_description="predictions: list of str; references: list of lists of str",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Sequence(datasets.Value("string"))}))

    def _compute(self, predictions, references):
        hits = [any(_norm(p) == _norm(r) for r in refs) for p, refs in zip(predictions, references)]
        return {"exact_match": sum(hits) / len(hits)}
