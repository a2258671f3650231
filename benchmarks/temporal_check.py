"""A second opinion on the temporal ratio: the same idea as `vidstyle eval` (warping error, Lai
et al. 2018), written independently of vidstyle's flow module, with another optical flow.

    python benchmarks/temporal_check.py INPUT STYLED [STYLED ...] [--frames N] [--flow farneback|dis]

Why: the issue that asks for a temporal ratio of at most 2.0 judges it "by an independent
implementation". vidstyle's own metric uses DIS flow with a forward-backward occlusion check,
a motion-boundary mask and errors divided by each clip's spatial variance. This one uses
Farnebäck's flow (OpenCV, a different algorithm), its own forward-backward check, no boundary
mask, and prints the ratio both plainly (E_out / E_in) and divided by the variances as
vidstyle's is, so a render's standing can be checked against both conventions.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from vidstyle.media.reader import iter_rgb


def farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Flow F with a(p) ≈ b(p + F(p)), from grey uint8 frames."""
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)


def dis(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The same from DIS (OpenCV's fast preset: not vidstyle's medium one), to see how much the
    flow's accuracy moves the ratio."""
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST).calc(a, b, None)


FLOWS = {"farneback": farneback, "dis": dis}


def warp_back(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def masks(prev_gray: np.ndarray, cur_gray: np.ndarray, flow=farneback) -> tuple[np.ndarray, np.ndarray]:
    """Backward flow (current -> previous) and where it is trusted: forward-backward consistent
    (Sundaram et al. 2010) and landing inside the frame."""
    back = flow(cur_gray, prev_gray)
    fwd = flow(prev_gray, cur_gray)
    fwd_at = warp_back(fwd, back)
    total = back + fwd_at
    ok = (total ** 2).sum(-1) <= 0.01 * ((back ** 2).sum(-1) + (fwd_at ** 2).sum(-1)) + 0.5
    h, w = back.shape[:2]
    xs, ys = np.meshgrid(np.arange(w), np.arange(h))
    inside = (xs + back[..., 0] >= 0) & (xs + back[..., 0] <= w - 1) & (ys + back[..., 1] >= 0) & \
             (ys + back[..., 1] <= h - 1)
    return back, ok & inside


def temporal(source: Path, styled: list[Path], frames: int | None, flow: str = "farneback") -> None:
    errors, ratios, pairs = measure(source, styled, frames, flow)
    print(f"{source.name}: {pairs + 1} frames, {pairs} pairs, {flow} flow")
    print(f"{'clip':32} {'E':>10} {'E/E_in':>8} {'(E/Var)/(E_in/Var_in)':>22}")
    for path, e, ratio in zip([source, *styled], errors, ratios, strict=True):
        print(f"{path.name[:32]:32} {e:10.6f} {e / errors[0]:8.2f} {ratio:22.2f}")


def measure(source: Path, styled: list[Path], frames: int | None = None,
            flow: str = "farneback") -> tuple[list[float], list[float], int]:
    """The warping error of the source and of each styled clip, their ratios (E/Var)/(E_in/Var_in)
    (the source's is 1), and the number of frame pairs."""
    clips = [iter_rgb(source), *(iter_rgb(p) for p in styled)]
    sums = np.zeros(len(clips))
    variances = np.zeros(len(clips))
    count = pairs = 0
    previous = None
    for index, group in enumerate(zip(*clips, strict=False)):
        if frames and index >= frames:
            break
        group = [g.astype(np.float32) / 255.0 for g in group]
        variances += [float(g.var(axis=(0, 1)).mean()) for g in group]
        count += 1
        if previous is not None:
            back, ok = masks(cv2.cvtColor((previous[0] * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY),
                             cv2.cvtColor((group[0] * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY), FLOWS[flow])
            for k, (cur, prev) in enumerate(zip(group, previous, strict=True)):
                sums[k] += float((((cur - warp_back(prev, back)) ** 2).mean(-1))[ok].mean())
            pairs += 1
        previous = group
    errors, variances = sums / max(pairs, 1), variances / max(count, 1)
    ratios = [float((e / v) / (errors[0] / variances[0])) for e, v in zip(errors, variances, strict=True)]
    return [float(e) for e in errors], ratios, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("styled", type=Path, nargs="+")
    parser.add_argument("--frames", type=int)
    parser.add_argument("--flow", choices=sorted(FLOWS), default="farneback")
    args = parser.parse_args()
    temporal(args.source, args.styled, args.frames, args.flow)


if __name__ == "__main__":
    main()
