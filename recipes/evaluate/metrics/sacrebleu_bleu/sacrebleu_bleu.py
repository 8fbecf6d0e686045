"""Corpus BLEU through sacrebleu (shipped with hubtool; load with evaluate.load(<this folder>))."""
import datasets
import evaluate
import sacrebleu


class SacrebleuBleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Corpus BLEU (sacrebleu defaults: 13a tokenizer, exp smoothing).", citation="Post, 2018",
            inputs_description="predictions: list of str; references: list of lists of str (same count each)",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Sequence(datasets.Value("string"))}))

    def _compute(self, predictions, references, tokenize="13a", lowercase=False):
        refs = [list(r) for r in zip(*references)]
        bleu = sacrebleu.BLEU(tokenize=tokenize, lowercase=lowercase)
        score = bleu.corpus_score(predictions, refs).score
        return {"score": score, "signature": str(bleu.get_signature())}
