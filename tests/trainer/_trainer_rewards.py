"""Test reward functions for the trainer tests, importable by dotted path (``_trainer_rewards:NAME``)."""


def count_sevens(prompts, completions, **kwargs):
    """Test reward: share of characters that are the digit 7 (dense, learnable by a tiny model)."""
    return [c.count("7") / max(len(c), 1) for c in completions]


def digit_share(prompts, completions, **kwargs):
    """Test reward: share of characters that are digits (dense: random text has a few)."""
    return [sum(ch.isdigit() for ch in c) / max(len(c), 1) for c in completions]
