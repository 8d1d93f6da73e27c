"""Training: labelled corpora, the frozen-encoder heads, fine-tuning and its data variants."""
