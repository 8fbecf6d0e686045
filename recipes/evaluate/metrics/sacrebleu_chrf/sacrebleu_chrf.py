"""Corpus chrF through sacrebleu (shipped with hubtool; load with evaluate.load(<this folder>))."""
import datasets
import evaluate
import sacrebleu


class SacrebleuChrf(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Corpus chrF (sacrebleu defaults: char order 6, beta 2).", citation="Popović, 2015",
            inputs_description="predictions: list of str; references: list of lists of str (same count each)",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Sequence(datasets.Value("string"))}))

    def _compute(self, predictions, references, word_order=0):
        refs = [list(r) for r in zip(*references)]
        return {"score": sacrebleu.corpus_chrf(predictions, refs, word_order=word_order).score}
