"""The unit of work on a cluster: a clip, or a segment of one.

One task per clip keeps every clip's render exactly the one-machine run's, and costs nothing
extra. A clip is split only where that leaves workers idle or one task too long: a clip longer
than ``max_frames`` is split into pieces of at most that many frames (a two-hour film spreads
over the cluster), and while there are fewer units than workers, the clip with the longest
pieces is split once more, as long as its pieces keep ``min_frames`` (each segment renders a
few warm-up frames twice, so short pieces would waste the gain).
"""

from __future__ import annotations

import math

MAX_SEGMENT_FRAMES = 1500  # a minute at 25 fps: the margins (32 carried frames) cost 2 %
MIN_SEGMENT_FRAMES = 48  # a floor; the driver asks for 3x a segment's margins (they render twice)


def split_counts(frames: list[int | None], workers: int, max_frames: int = MAX_SEGMENT_FRAMES,
                 min_frames: int = MIN_SEGMENT_FRAMES) -> list[int]:
    """How many segments each clip is rendered as (1: whole), given the clips' frame counts
    (None: a job that cannot be split) and the number of tasks the cluster runs at once."""
    counts = [1 if n is None else max(1, math.ceil(n / max_frames)) for n in frames]
    while sum(counts) < workers:
        longest = max((i for i, n in enumerate(frames) if n is not None and n // (counts[i] + 1) >= min_frames),
                      key=lambda i: frames[i] / counts[i], default=None)
        if longest is None:
            break
        counts[longest] += 1
    return counts
