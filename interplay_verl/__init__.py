"""interplay-verl: synthetic reasoning graphs, pre-/mid-training and GRPO on verl."""

__version__ = "0.1.0"
