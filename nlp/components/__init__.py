"""The analysis pipeline's components: each reads and writes one document."""
