"""vidstyle: neural style transfer for videos and images that keeps the clip intact."""

__version__ = "0.1.0"
