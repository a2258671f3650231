"""What every job of a run shares: the device, the style image, the loss network and its
targets, and the style model — loaded, or trained once on the first keyframe and fine-tuned
per job when asked — so that a batch trains once and a bad style fails before any work.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from vidstyle.config import MIN_TRAIN_SIZE, GeneratorConfig, Plan, RunConfig
from vidstyle.devices import resolve_device
from vidstyle.errors import InputError, option
from vidstyle.media.cube import Lut3D, read_cube, write_cube
from vidstyle.media.images import load_image, resize_long_side
from vidstyle.media.outputs import atomic_output
from vidstyle.model.checkpoint import Checkpoint, TrainedFor, load_style_model, save_style_model
from vidstyle.model.generator import HRNetGenerator
from vidstyle.model.losses import LossesBySize, PerceptualLoss
from vidstyle.model.lossnet import LossNetwork, build_losses, resolve_loss_network
from vidstyle.model.tensors import to_tensor
from vidstyle.model.train import build_generator, train_generator
from vidstyle.render import runtimes
from vidstyle.render.renderer import Grading, LutGrading, Painting, Treatment, baked_lut
from vidstyle.render.stylize import Stylizer
from vidstyle.reporting import Reporter


class StyleSession:
    """Device, the run's plan, loss network, style targets and the style model, shared by every
    job of a run."""

    def __init__(self, config: RunConfig, reporter: Reporter, *, model: HRNetGenerator | None = None,
                 model_info: dict | None = None, style_rgb: np.ndarray | None = None) -> None:
        """``model`` (with what it was trained with, ``model_info``) and ``style_rgb``: a trained
        generator and a style image already in memory (the Python API's), instead of
        ``config.model_path`` and ``config.style``."""
        self.config = config
        self.reporter = reporter
        self.device = resolve_device(config.device)
        self.plan: Plan = config.plan(self.device.type, reporter.warn)
        self.style_rgb = style_rgb
        self.style_name = Path(config.style).name if config.style else None
        self.network: LossNetwork | None = None
        self._base = model.to(self.device) if model is not None else None
        self._losses: LossesBySize | None = None
        self.model_info: dict | None = None  # what the model was trained with, once it is at hand
        if model is not None and model_info is not None:
            self._adopt(model_info)
        self.lut: Lut3D | None = None  # a LUT applied as it is (config.lut): no model at all
        self._lut_saved = False

    # -- set-up, before any work -------------------------------------------------------
    def prepare(self) -> None:
        """Load what every job needs, so that a bad style or missing weights stop the run
        before any decoding or training starts."""
        cfg = self.config
        if cfg.lut is not None:
            self.lut = read_cube(cfg.lut)
            return  # nothing to train or load
        if self._base is None and cfg.model_path is not None:
            saved = load_style_model(Path(cfg.model_path), self.device)
            self._base = saved.generator
            self._adopt(saved.info)
            kind = "photoreal look" if self.photoreal else "painting"
            self.reporter.info(f"loaded style model {cfg.model_path} ({kind}, "
                               f"{saved.info.get('style', 'unknown style')}, "
                               f"loss network {saved.info.get('loss_network', 'vgg19')})")
        if self.style_rgb is None and cfg.style is not None:
            self.style_rgb = load_image(Path(cfg.style), role="style", max_pixels=cfg.max_pixels).rgb
        if self._base is not None and cfg.train.finetune_frames == 0:
            return  # nothing to train
        if self.style_rgb is None:
            raise InputError(f"no style image given; pass {option('style')} IMAGE (or {option('model')} "
                             "to reuse a trained model)")
        self.network = resolve_loss_network(self.plan.train.loss_network, cfg.vgg_weights,
                                            progress=not self.reporter.quiet, notice=self.reporter.notice)
        self.reporter.info(f"loss network: {self.network.source}")
        self._losses = build_losses(self.network, self.style_rgb, self.plan.train, self.device)

    def _adopt(self, info: dict) -> None:
        """A model at hand: what it was trained for decides how it is applied (`photoreal`)."""
        if self.plan.train.photoreal and not TrainedFor.of(info).photoreal:
            model = f"the style model {self.config.model_path}" if self.config.model_path else "this style model"
            raise InputError(f"{option('photoreal')}: {model} was trained to paint; train a photoreal one "
                             f"({option('photoreal')} with {option('style')} PHOTO)")
        self.model_info = info

    @property
    def _trained_for(self) -> TrainedFor:
        """The model's, once at hand; before that, what this run's plan will train."""
        if self.model_info is not None:
            return TrainedFor.of(self.model_info)
        return TrainedFor(self.plan.train.photoreal, self.plan.train.train_size, self.plan.train.strength)

    @property
    def photoreal(self) -> bool:
        """Whether the model grades (a photoreal look) rather than paints."""
        return self._trained_for.photoreal

    @property
    def strength(self) -> float | None:
        """The style strength the model was trained at (a loaded model's, not this run's
        --strength, which trains nothing then); None where an old model's info does not say."""
        return self._trained_for.strength

    # -- what a job applies --------------------------------------------------------------
    def trains(self) -> bool:
        """Whether the model is still to be trained (on the first job's training frame)."""
        return self.lut is None and self._base is None

    def needs_frame(self, preview: bool = False) -> bool:
        """Whether a job's training frame must be read: to train or fine-tune, to fit a photoreal
        grade, for a ``preview``, a LUT still to bake, or because the user named it (it is checked
        then). A painting model at hand, or a LUT, needs none to render."""
        cfg = self.config
        return (preview or cfg.train_frame is not None or (cfg.save_lut is not None and not self._lut_saved)
                or self.trains() or (self.lut is None and (self.photoreal or self.plan.train.finetune_frames > 0)))

    def treatment(self, frame: np.ndarray | None, extra_frames: list[np.ndarray] | None = None) -> Treatment:
        """What a job whose training frame is ``frame`` applies to its frames: the LUT given;
        or the style model (trained once per run), painting, or as a photoreal grade fitted on
        this job's own frame (a batch's clips each get the look on their own colours).
        ``frame`` None: no frame at hand (a segment of a clip on a cluster), where none is needed
        — a LUT, or a model at hand that paints."""
        if self.lut is not None:
            return LutGrading(self.lut)
        if frame is None and (self._base is None or self.photoreal or extra_frames):
            raise ValueError("this look is fitted on the job's training frame: pass it")
        stylizer = self.stylizer(self.model_for(frame, extra_frames))
        if not self.photoreal:
            return Painting(stylizer)
        return Grading.fit(stylizer, frame, self._trained_for.train_size or self.plan.train.train_size)

    def save_lut_once(self, treatment: Treatment, frame: np.ndarray) -> None:
        """``config.save_lut``: the first job's look baked into a 33³ `.cube` (fitted from the
        training frame's colours to their graded colours)."""
        if self.config.save_lut is None or self._lut_saved:
            return
        lut = baked_lut(treatment, frame, f"vidstyle photoreal look ({self.style_name or 'photo'})")
        write_cube(lut, Path(self.config.save_lut))
        self._lut_saved = True
        self.reporter.info(f"saved the look as a 3D LUT: {self.config.save_lut}")

    # -- the style model -----------------------------------------------------------------
    def model_for(self, keyframe: np.ndarray | None, extra_frames: list[np.ndarray] | None = None) -> HRNetGenerator:
        """The base model (trained on the first keyframe, once per run), fine-tuned on
        ``extra_frames`` when fine-tuning is asked for."""
        if self._base is None:
            self._base = self._train_base(keyframe)
        if not extra_frames:
            return self._base
        tuned = copy.deepcopy(self._base)
        contents = [self._content_tensor(f) for f in [keyframe, *extra_frames]]
        history = train_generator(tuned, self._loss_for(contents[0]), contents, self.plan.train.finetune_steps,
                                  self.plan.train, desc="fine-tuning", reporter=self.reporter)
        self.reporter.info(f"fine-tuned on {len(contents)} frames in {history.seconds:.1f}s")
        return tuned

    def _train_base(self, keyframe: np.ndarray) -> HRNetGenerator:
        tc = self.plan.train
        generator = build_generator(GeneratorConfig(), tc.seed, self.device)
        content = self._content_tensor(keyframe)
        h, w = content.shape[-2:]
        self.reporter.info(f"training the style model: {tc.steps} steps at {w}x{h} on {self.device.type}")
        history = train_generator(generator, self._loss_for(content), [content], tc.steps, tc,
                                  reporter=self.reporter)
        self.model_info = self.checkpoint(generator).info
        if history.total:
            self.reporter.info(f"trained in {history.seconds:.1f}s (loss {history.total[0]:.4g} -> "
                               f"{history.total[-1]:.4g})")
        if self.config.save_model:
            self._save(generator)
        return generator

    def checkpoint(self, generator: HRNetGenerator) -> Checkpoint:
        """``generator`` with what it was trained with (style, loss network, settings), to save."""
        return Checkpoint(generator=generator, info={"style": self.style_name,
                                                     "loss_network": self.network.name if self.network else None,
                                                     "train": self.plan.train.to_dict()})

    def _save(self, generator: HRNetGenerator) -> None:
        path = Path(self.config.save_model)
        with atomic_output(path) as temp:
            save_style_model(self.checkpoint(generator), temp)
        self.reporter.info(f"saved style model to {path}")
        if runtimes.prepare(generator):  # on a CPU, for later runs: they start without converting
            self.reporter.info(f"kept its OpenVINO conversion in {runtimes.cache_dir()}: runs with "
                               f"{option('model')} {path.name} start without converting it")

    def _content_tensor(self, rgb: np.ndarray) -> torch.Tensor:
        """The frame at the training size; small or thin frames are scaled up so that the loss
        network's deepest layer still sees a few pixels."""
        long, short = max(rgb.shape[:2]), min(rgb.shape[:2])
        size = max(min(self.plan.train.train_size, long), round(long * MIN_TRAIN_SIZE / short))
        return to_tensor(resize_long_side(rgb, size), self.device)

    def _loss_for(self, content: torch.Tensor) -> PerceptualLoss:
        return self._losses(*content.shape[-2:])

    def stylizer(self, generator: HRNetGenerator) -> Stylizer:
        return Stylizer(generator, self.plan.inference)
