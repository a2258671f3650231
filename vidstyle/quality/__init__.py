"""Measuring a stylized clip against its source, beside the main path: temporal stability,
structure, colour and style distance (`vidstyle eval`)."""
