"""Checkpoint key conversion from the official D-FINE and transformers."""
