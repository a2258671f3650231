"""Applying a trained model to frames: the stylizer (full resolution or the fast path), the
flow-guided stabilizer, and the threaded decode -> stylize -> stabilize -> encode stream."""
