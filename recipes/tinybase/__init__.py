"""A toy stand-in for a real backbone: a byte-level BPE tokenizer and a 2-layer Llama trained briefly on a
corpus artifact, so that a whole project (synth, train, evaluate, arena) runs on a laptop CPU. Its text
is not Basque; its card says so."""
