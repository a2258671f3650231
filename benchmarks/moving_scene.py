"""The temporal ratio of renders of a `MovingScene` clip, judged against its true motion.

Why: a temporal metric that warps with an estimated flow judges a render partly by the
estimate's errors. In a flat sky DIS and Farnebäck interpolate the flow from around, and a
render whose strokes follow the true motion there scores worse than one whose strokes follow
the estimate's mistakes (README, Quality: "What the temporal ratio can reach").
"""

from __future__ import annotations

from pathlib import Path

from vidstyle.media import reader
from vidstyle.media.synthetic import MovingScene
from vidstyle.quality.metrics import WarpAccumulator, temporal_ratio, to_float


def true_temporal_ratios(scene: MovingScene, source: Path, styled: list[Path]) -> list[float | None]:
    """For each of ``styled``, `vidstyle eval`'s temporal ratio (warping error over spatial
    variance, against the source's own) with the scene's true motion and its mask (the disc's
    rim and what it uncovers left out) in place of DIS flow and its occlusion and
    motion-boundary masks. The clips are read side by side, so each frame's truth is made once."""
    accumulators = [WarpAccumulator() for _ in range(len(styled) + 1)]
    clips = [reader.iter_rgb(path) for path in (source, *styled)]
    previous = None
    for index, frames in enumerate(zip(*clips, strict=True)):
        frames = [to_float(frame) for frame in frames]
        motion = scene.truth(index) if index else None
        for accumulator, frame, before in zip(accumulators, frames, previous or frames, strict=True):
            accumulator.add_frame(frame)
            if motion is not None:
                accumulator.add_pair(frame, before, motion)
        previous = frames
    return [temporal_ratio(accumulator, accumulators[0]) for accumulator in accumulators[1:]]
