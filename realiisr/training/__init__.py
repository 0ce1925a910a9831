"""Training: optimiser groups and schedules, atomic checkpoints, the tokenizer and generator stages."""
