"""The tool's own exception types: every expected failure becomes one of these at the boundary.

The CLI prints their message as one line and exits non-zero; anything else is a bug.
"""


class VidstyleError(Exception):
    """A failure the user can fix; the message names the problem and the fix."""

    exit_code = 1


class InputError(VidstyleError):
    """An input file is missing, unreadable or of the wrong kind."""


class OutputError(VidstyleError):
    """The output cannot be written where asked (exists, equals the input, not writable)."""


class WeightsError(VidstyleError):
    """The VGG19 loss-network weights cannot be found or loaded."""


class VideoError(VidstyleError):
    """PyAV/FFmpeg failed while decoding or encoding a clip."""


class ModelError(VidstyleError):
    """A saved style model cannot be loaded or does not fit."""


class TrainingError(VidstyleError):
    """Training went wrong in a way settings can fix (the loss turned NaN or infinite)."""
