"""The Python API: train a style model, save and load it, and apply it to images, arrays, video
files and streams of frames. The `vidstyle` command is a thin layer over `stylize_files`.

Everything here runs the same code as the command line (the pipeline's jobs, the same checks,
atomic outputs, timestamps and audio kept); options are the typed config objects of
`vidstyle.config`. Nothing prints unless ``quiet=False``; ``progress(what, done, total)`` is
called as training steps and frames complete.

    >>> import vidstyle
    >>> model = vidstyle.train("samples/starry_night.jpg", "samples/clip.mp4")  # doctest: +SKIP
    >>> model.stylize_video("samples/clip.mp4", "clip_styled.mp4")              # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from vidstyle.config import CarryConfig, InferenceConfig, RunConfig, StabilizeConfig, TrainConfig
from vidstyle.devices import resolve_device
from vidstyle.errors import InputError, OutputError, option
from vidstyle.loop import pictures
from vidstyle.media.cube import Lut3D, read_cube, write_cube
from vidstyle.media.images import LoadedImage, from_pil, load_image, to_pil
from vidstyle.media.outputs import atomic_output, check_output
from vidstyle.media.sources import ArraySource, checked_array, open_source, training_frames
from vidstyle.model.checkpoint import Checkpoint, TrainedFor, load_style_model, save_style_model
from vidstyle.model.generator import HRNetGenerator
from vidstyle.pipeline import JobResult, stylize_paths
from vidstyle.render import runtimes
from vidstyle.render.renderer import Grading, LutGrading, Painting, baked_lut
from vidstyle.render.stylize import Stylizer
from vidstyle.reporting import Progress, Reporter
from vidstyle.session import StyleSession

PathLike = str | Path
ImageLike = str | Path | Image.Image | np.ndarray


class StyleModel:
    """A trained style: a generator and what it was trained with. Get one from `train` or
    `load`; apply it with `stylize_image`, `stylize_frames` or `stylize_video`."""

    def __init__(self, generator: HRNetGenerator, info: dict[str, Any] | None = None,
                 frame: np.ndarray | None = None) -> None:
        self.generator = generator
        self.info = dict(info or {})
        self.frame = frame  # the frame it was trained on, where known (`train` keeps it): `to_lut`'s default

    @property
    def photoreal(self) -> bool:
        """Trained for photoreal looks (``train(..., photoreal=True)``) rather than to paint."""
        return TrainedFor.of(self.info).photoreal

    def _treatment(self, frame: np.ndarray, inference: InferenceConfig | None = None) -> Painting | Grading:
        stylizer = Stylizer(self.generator, inference)
        if not self.photoreal:
            return Painting(stylizer)
        return Grading.fit(stylizer, frame, TrainedFor.of(self.info).train_size or max(frame.shape[:2]))

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def save(self, path: PathLike, *, overwrite: bool = False) -> Path:
        """Write the model to ``path`` (atomically); `load` reads it back, as does
        ``vidstyle --model PATH``. On a CPU its OpenVINO conversion is kept in the user's cache
        too (about 3 s, once; ``VIDSTYLE_CACHE=off`` for none), so applying it later starts at once.

            >>> path = model.save(tmp / "starry.pt")          # doctest: +SKIP
        """
        path = Path(path)
        check_output(path, overwrite, role="style model", option="path")
        with atomic_output(path) as temp:
            save_style_model(Checkpoint(generator=self.generator, info=self.info), temp)
        runtimes.prepare(self.generator)  # on a CPU, later runs that apply it start without converting
        return path

    def stylize_image(self, image: ImageLike, *, inference: InferenceConfig | None = None) -> Image.Image | np.ndarray:
        """Stylize one image at its own size. A PIL image gives a PIL image (alpha kept), a
        (H, W, 3) uint8 array gives an array, a path gives a PIL image.

            >>> out = model.stylize_image(Image.open("photo.jpg"))   # doctest: +SKIP
        """
        loaded = _as_image(image, "image")
        rgb = self._treatment(loaded.rgb, inference).picture(loaded.rgb)
        return rgb if isinstance(image, np.ndarray) else to_pil(rgb, loaded.alpha)

    def to_lut(self, path: PathLike, frame: ImageLike | None = None, *, overwrite: bool = False) -> Path:
        """Bake a photoreal model's look into a 33-point ``.cube`` 3D LUT at ``path`` (atomically),
        fitted from ``frame``'s colours (an image path, PIL image or array; by default the frame
        it was trained on) to their graded colours. Editors and FFmpeg's lut3d read it; so does
        ``vidstyle --lut``.

            >>> model = vidstyle.train("dusk.jpg", "clip.mp4", photoreal=True)   # doctest: +SKIP
            >>> model.to_lut("dusk.cube")                                        # doctest: +SKIP
        """
        if not self.photoreal:
            raise InputError(f"to_lut bakes a photoreal look; train with {option('photoreal')} "
                             "(a painting's strokes cannot live in a LUT)")
        if frame is None and self.frame is None:
            raise InputError("to_lut needs a frame whose colours the LUT is fitted on (this model was loaded, "
                             "not trained here): pass frame=")
        rgb = self.frame if frame is None else _as_image(frame, "frame").rgb
        path = Path(path)
        if path.suffix.lower() != ".cube":
            raise OutputError(f"to_lut writes a .cube file, not {path.name}; name it e.g. look.cube")
        check_output(path, overwrite, role="LUT", option="path")
        return write_cube(baked_lut(self._treatment(rgb), rgb, "vidstyle photoreal look"), path)

    def stylize_frames(self, frames: Iterable[np.ndarray], *, stabilize: StabilizeConfig | bool = True,
                       carry: CarryConfig | None = None,
                       inference: InferenceConfig | None = None) -> Iterator[np.ndarray]:
        """Stylize a stream of (H, W, 3) uint8 RGB frames of one clip, in order, for callers
        with their own I/O: frames are read lazily and given back as they are done (memory
        stays bounded). ``carry`` picks the frames the generator runs on (on a CPU by default:
        keyframes, the look carried along the motion between them, so frames come back in
        bursts); where every frame is stylized, ``stabilize`` blends each with the previous one
        along the motion (a `StabilizeConfig`, True for the defaults, False for none).

            >>> for styled in model.stylize_frames(my_frames()):   # doctest: +SKIP
            ...     sink.write(styled)
        """
        settings = StabilizeConfig() if stabilize is True else stabilize or StabilizeConfig(enabled=False)
        plan = RunConfig(carry=carry or CarryConfig(), stabilize=settings,
                         inference=inference or InferenceConfig()).plan(self.device.type, Reporter().warn)
        frames = iter(frames)
        first = next(frames, None)
        if first is None:
            return
        treatment = self._treatment(checked_array(first), plan.inference)  # a grade is fitted on the first frame
        yield from pictures(ArraySource(chain([first], frames)), treatment.clip_renderer(plan))

    def stylize_video(self, source: PathLike, output: PathLike, *, overwrite: bool = False,
                      config: RunConfig | None = None, progress: Progress | None = None,
                      quiet: bool = True) -> JobResult:
        """Stylize a video file (or a folder of frames, or an image file) into ``output`` with
        every guarantee of the command line: each frame at its source timestamp, audio copied,
        paths checked before work starts, the output written to a temporary name and renamed
        into place. ``config`` carries the encoder, stabilizer and inference settings.

            >>> result = model.stylize_video("clip.mp4", "clip_styled.mp4")   # doctest: +SKIP
            >>> result.message
            '100 frames, 480x270, 1 audio stream(s)'
        """
        config = config or RunConfig()
        config = replace(config, overwrite=overwrite, preview=False, model_path=None, device=self.device.type,
                         train=replace(config.train, finetune_frames=0))
        reporter = Reporter(quiet=quiet, progress=progress)
        session = StyleSession(config, reporter, model=self.generator, model_info=self.info)
        return stylize_paths([Path(source)], config, reporter, output=Path(output), session=session)[0]


def train(style: ImageLike, content: ImageLike, *, config: TrainConfig | None = None, photoreal: bool = False,
          train_frame: str | None = None, device: str = "auto", vgg_weights: str | None = None,
          progress: Progress | None = None, quiet: bool = True) -> StyleModel:
    """Train a style model on ``content`` against ``style`` (an image path, a PIL image or an
    RGB array). ``content`` is a frame (image path, PIL image or array), a video file or a
    folder of frames: of a clip, the frame ``train_frame`` names ('2.5' seconds, '#40' an
    index; the middle by default) is trained on, and ``config.finetune_frames`` more.
    ``config`` holds the training settings (steps, size, strength, loss network ...).
    ``photoreal``: ``style`` is a photo whose colour, tone and light the content takes on,
    every edge kept (a smooth colour transform, no strokes; `StyleModel.to_lut` bakes it).

        >>> model = vidstyle.train("art.jpg", "clip.mp4", config=vidstyle.TrainConfig(steps=100))  # doctest: +SKIP
    """
    config = config or TrainConfig()
    if photoreal:
        config = replace(config, photoreal=True)
    style_image = _as_image(style, "style")
    if isinstance(content, (str, Path)):
        with open_source(Path(content)) as source:
            chosen = training_frames(source, train_frame, config.finetune_frames)
        key, extra = chosen.frame, chosen.extra
    else:
        key, extra = _as_image(content, "content").rgb, []
    run = RunConfig(style=str(style) if isinstance(style, (str, Path)) else None, train=config, device=device,
                    vgg_weights=vgg_weights)
    session = StyleSession(run, Reporter(quiet=quiet, progress=progress), style_rgb=style_image.rgb)
    session.prepare()
    generator = session.model_for(key, extra)
    return StyleModel(generator, session.checkpoint(generator).info, frame=key)


def apply_lut(lut: PathLike | Lut3D, image: ImageLike) -> Image.Image | np.ndarray:
    """A 3D LUT (a ``.cube`` path, vidstyle's or any editor's, or a `Lut3D`) applied to one
    image: a PIL image or path gives a PIL image (alpha kept), an array gives an array. For
    clips and folders: ``stylize_files(inputs, RunConfig(lut=path))``.

        >>> vidstyle.apply_lut("dusk.cube", Image.open("photo.jpg")).save("graded.png")  # doctest: +SKIP
    """
    table = lut if isinstance(lut, Lut3D) else read_cube(lut)
    loaded = _as_image(image, "image")
    rgb = LutGrading(table).picture(loaded.rgb)
    return rgb if isinstance(image, np.ndarray) else to_pil(rgb, loaded.alpha)


def load(path: PathLike, *, device: str = "auto") -> StyleModel:
    """Load a model saved by `StyleModel.save` or ``vidstyle --save-model``.

        >>> model = vidstyle.load("starry.pt")   # doctest: +SKIP
    """
    saved = load_style_model(Path(path), resolve_device(device))
    return StyleModel(saved.generator, saved.info)


def stylize_files(inputs: list[PathLike], config: RunConfig, *, output: PathLike | None = None,
                  out_dir: PathLike | None = None, progress: Progress | None = None,
                  quiet: bool = False, ray: bool | str | None = None) -> list[JobResult]:
    """What the `vidstyle` command does: stylize clips, images and frame folders with one
    style model (trained once from ``config.style``, or loaded from ``config.model_path``).
    One input: its error is raised; several: each result says whether it worked.
    ``ray``: run on a Ray cluster (``pip install 'vidstyle[ray]'``): True for the one
    ``RAY_ADDRESS`` names, else one running here, else a local one started and stopped with
    every core; or an address (``"auto"``, ``"ray://host:10001"``).

        >>> config = vidstyle.RunConfig(style="art.jpg")
        >>> vidstyle.stylize_files(["a.mp4", "b.mov"], config, out_dir="out")  # doctest: +SKIP
    """
    reporter = Reporter(quiet=quiet, progress=progress)
    paths = [Path(p) for p in inputs]
    output_path, folder = (Path(output) if output else None), (Path(out_dir) if out_dir else None)
    if ray is None or ray is False:
        return stylize_paths(paths, config, reporter, output=output_path, out_dir=folder)
    from vidstyle.cluster.driver import stylize_on_ray

    address = None if ray is True or ray == "" else str(ray)
    return stylize_on_ray(paths, config, reporter, output_path, folder, address)


def _as_image(image: ImageLike, role: str) -> LoadedImage:
    """A path, a PIL image or an (H, W, 3) uint8 array as RGB (+ alpha)."""
    if isinstance(image, (str, Path)):
        return load_image(Path(image), role=role)
    if isinstance(image, Image.Image):
        return from_pil(image)
    if isinstance(image, np.ndarray):
        return LoadedImage(rgb=checked_array(image), alpha=None)
    raise InputError(f"{role} must be a path, a PIL image or an (H, W, 3) uint8 array, not {type(image).__name__}")
