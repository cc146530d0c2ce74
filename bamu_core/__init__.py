"""bamu: bias-aware machine unlearning for vision models."""

__version__ = "0.1.0"
