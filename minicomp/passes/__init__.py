"""Passes: each a pure function Graph -> Graph; PIPELINE in pipeline.py says the order."""
