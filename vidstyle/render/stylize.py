"""Applying a trained generator to frames: batched, without gradients, at full resolution or
through the fast path (generator at a working size + guided upsampling, see guided.py).

On a CUDA GPU the frames travel through pinned memory and the generator runs with cuDNN
autotuning, in fp32 NCHW unless asked otherwise (measured fastest on an H200, see
InferenceConfig); on the CPU it runs in fp32 and the fast path carries high resolutions.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch

from vidstyle.config import InferenceConfig
from vidstyle.devices import cudnn_autotune, dtype_of
from vidstyle.media.images import long_side_shape
from vidstyle.model.generator import HRNetGenerator
from vidstyle.model.tensors import download_rgb, imagenet_denormalize, imagenet_normalize, to_channels_last, upload_rgb
from vidstyle.render import runtimes
from vidstyle.render.guided import AffineMaps, apply_affine, downscale, fit_affine


class Stylizer:
    """Callable: a list of uint8 RGB frames of one size -> the stylized frames, same sizes.

    Works on its own copy of the generator (moved to channels-last where the device wants
    it), so the caller's model is never changed.
    """

    def __init__(self, generator: HRNetGenerator, config: InferenceConfig | None = None) -> None:
        self.device = next(generator.parameters()).device
        self.config = (config or InferenceConfig()).for_device(self.device.type)
        self.batch_size = self.config.batch_size
        self.dtype = dtype_of(self.config.precision)
        self.channels_last = self.config.channels_last
        model = copy.deepcopy(generator).eval().requires_grad_(False)
        if self.channels_last:
            model = to_channels_last(model)
        self.model = model
        self.runtime_batch: int | None = None  # the batch a runtime's generator was built for
        self.runtime = "torch"  # what runs the generator (render/runtimes.py), for the run's log

    def with_runtime(self, name: str, height: int, width: int, batch: int = 1,
                     deferred: Callable[[Exception], None] | None = None) -> Stylizer:
        """A copy whose generator runs under runtime ``name`` (render/runtimes.py), built for
        batches of ``batch`` frames of this size; smaller batches are padded to it and larger
        ones split, so a compiled graph is never rebuilt for a new shape mid-clip (on a GPU, a
        batch of 4 and a clip's last, shorter batch would each compile again; OpenVINO compiles
        for the one shape it is given). Raises what the runtime raises: the caller keeps this
        stylizer then. With ``deferred``, built at the first run instead, in that run's thread
        (`runtimes.deferred`): a failure then goes to ``deferred`` and the copy runs on plain torch."""
        shape = self.working_shape(height, width)
        twin = copy.copy(self)
        example = torch.zeros(batch, 3, *shape, device=self.device)
        twin.model = (runtimes.build(name, self.model, example) if deferred is None
                      else runtimes.deferred(name, self.model, example, deferred))
        twin.runtime_batch = batch
        twin.runtime = name if deferred is None else f"{name} from its first run, or torch if it fails there"
        return twin

    def __call__(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        with torch.inference_mode(), cudnn_autotune(self.device):
            for start in range(0, len(frames), self.batch_size):
                rgb = self.upload(frames[start:start + self.batch_size])
                out.extend(self.download(self.stylize_tensor(rgb)))
        return out

    def one(self, rgb: np.ndarray) -> np.ndarray:
        return self([rgb])[0]

    def uses_fast_path(self, height: int, width: int) -> bool:
        return self.config.fast_for(height, width, self.device.type)

    def stylize_tensor(self, rgb: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB in [0, 1] on the model's device -> stylized, same shape, in [0, 1]:
        through the fast path, the working size's colour transform applied to the frame plus
        the strokes that transform cannot draw, upsampled (the same look the carrier carries)."""
        if not self.uses_fast_path(*rgb.shape[-2:]):
            return self._generate(rgb)
        maps, detail = self._working_look(rgb)  # the detail joins the offset (upsampling is linear)
        return apply_affine(AffineMaps(a=maps.a, b=maps.b + detail), rgb).clamp(0.0, 1.0)

    def working_shape(self, height: int, width: int) -> tuple[int, int]:
        """The size the generator sees: the fast path's working size, or the frame's own."""
        if not self.uses_fast_path(height, width):
            return height, width
        return long_side_shape(height, width, self.config.fast_size)

    def look(self, rgb: np.ndarray) -> np.ndarray:
        """The look of one frame at the working resolution, (15, h, w) float32 planes: a local
        colour transform (the 3x3 matrix [out, in], then the offset of every pixel; guided.py)
        and the detail it leaves out (the generator's strokes where the frame has no texture
        for a transform to recolour), so that `carry.apply_maps` gives the frame's stylization.
        What the keyframe carrier carries."""
        with torch.inference_mode(), cudnn_autotune(self.device):
            maps, detail = self._working_look(self.upload([rgb]))
            h, w = maps.b.shape[-2:]
            return torch.cat((maps.a.reshape(9, h, w), maps.b[0], detail[0]), dim=0).float().cpu().numpy()

    def _working_look(self, rgb: torch.Tensor) -> tuple[AffineMaps, torch.Tensor]:
        """The generator at the working size, as local colour transforms from the (downscaled)
        input to its output, and the detail (output minus the transformed input) they miss."""
        shape = self.working_shape(*rgb.shape[-2:])
        fast = self.uses_fast_path(*rgb.shape[-2:])
        small = downscale(rgb, shape) if fast else rgb
        out = self._generate(small)
        # upsampled, the transform also brings back the detail the generator did not see (a weak
        # ridge keeps it); at the frame's own size it only follows the frame between keyframes,
        # and a weak ridge fitted to a flat area turns the next frame's noise into shimmer
        eps = self.config.guide_eps if fast else self.config.look_eps
        maps = fit_affine(small, out, self.config.guide_radius, eps)
        return maps, out - apply_affine(maps, small)

    def _generate(self, rgb: torch.Tensor) -> torch.Tensor:
        x = imagenet_normalize(rgb)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32):
            y = self._run_model(x)
        return imagenet_denormalize(y.float())

    def _run_model(self, x: torch.Tensor) -> torch.Tensor:
        """The generator on ``x``; under a runtime, in batches of exactly the size it was built for."""
        size = self.runtime_batch
        if size is None or x.shape[0] == size:
            return self.model(x)
        outputs = []
        for start in range(0, x.shape[0], size):
            part = x[start:start + size]
            short = size - part.shape[0]  # the last part: padded with copies of its last frame
            padded = torch.cat((part, part[-1:].expand(short, *part.shape[1:]))) if short else part
            outputs.append(self.model(padded)[:part.shape[0]])
        return torch.cat(outputs)

    def upload(self, frames: list[np.ndarray]) -> torch.Tensor:
        """uint8 (H, W, 3) frames -> (B, 3, H, W) float in [0, 1] on the model's device."""
        return upload_rgb(frames, self.device)

    @staticmethod
    def download(rgb: torch.Tensor) -> list[np.ndarray]:
        """(B, 3, H, W) in [0, 1] -> uint8 (H, W, 3) arrays on the CPU."""
        return list(download_rgb(rgb))
