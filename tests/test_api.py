"""The Python API (`import vidstyle`): train, save/load, and each way of applying a model."""

import re
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image
from support import REPO, SAMPLES, leftovers, make_clip, read_clip

import vidstyle
from vidstyle.errors import InputError, OutputError

FAST = vidstyle.TrainConfig(steps=3, train_size=64, loss_network="pyramid")  # the API reads no env


@pytest.fixture(scope="module")
def model():
    content = (np.random.default_rng(1).random((48, 64, 3)) * 255).astype(np.uint8)
    with Image.open(SAMPLES / "starry_night.jpg") as style:
        return vidstyle.train(style.copy(), content, config=FAST, device="cpu")


def test_import_is_light():
    code = "import sys, vidstyle; vidstyle.TrainConfig; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_train_reports_progress_and_records_what_it_used(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", frames=6, audio=None)
    seen = []
    model = vidstyle.train(SAMPLES / "starry_night.jpg", clip, config=FAST, train_frame="#2", device="cpu",
                           progress=lambda what, done, total: seen.append((what, done, total)))
    assert seen == [("training", 1, 3), ("training", 2, 3), ("training", 3, 3)]
    assert model.info["style"] == "starry_night.jpg" and model.info["loss_network"] == "pyramid"
    assert model.info["train"]["steps"] == 3


def test_stylize_image_pil_in_pil_out_with_alpha(model):
    rgba = Image.new("RGBA", (40, 30), (200, 60, 30, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 7))
    out = model.stylize_image(rgba)
    assert isinstance(out, Image.Image) and out.mode == "RGBA" and out.size == (40, 30)
    assert out.getpixel((0, 0))[3] == 7
    assert np.abs(np.asarray(out)[..., :3].astype(int) - (200, 60, 30)).mean() > 5  # restyled, not copied
    array = np.asarray(rgba.convert("RGB"))
    assert np.array_equal(model.stylize_image(array), np.asarray(out)[..., :3])  # arrays give arrays


def test_saving_a_model_on_a_cpu_prepares_its_fast_runtime(model, tmp_path, monkeypatch):
    """A saved model is meant for later runs: its OpenVINO conversion is kept on disk then, so
    that `auto` takes the faster runtime at once when the model is applied."""
    pytest.importorskip("openvino")
    from vidstyle.render import runtimes

    monkeypatch.setenv("VIDSTYLE_CACHE", str(tmp_path / "cache"))
    assert not runtimes.is_converted(model.generator)
    model.save(tmp_path / "m.pt")
    assert runtimes.is_converted(vidstyle.load(tmp_path / "m.pt", device="cpu").generator)


def test_save_and_load_give_the_same_pictures(model, tmp_path):
    path = model.save(tmp_path / "m.pt")
    with pytest.raises(OutputError, match="already exists"):
        model.save(path)
    again = vidstyle.load(path, device="cpu")
    frame = np.full((32, 48, 3), 120, np.uint8)
    assert np.array_equal(again.stylize_image(frame), model.stylize_image(frame))
    assert again.info == model.info


def test_stylize_frames_streams_lazily(model):
    pulled = []

    def frames():
        for i in range(5):
            pulled.append(i)
            yield np.full((24, 32, 3), 30 * i, np.uint8)

    stream = model.stylize_frames(frames())
    first = next(stream)
    assert first.shape == (24, 32, 3) and first.dtype == np.uint8
    assert len(pulled) == 1  # one frame read for one frame out (batch size 1 on the CPU)
    assert len(list(stream)) == 4
    with pytest.raises(InputError, match=r"frames must be \(H, W, 3\) uint8 RGB arrays, got float64"):
        next(model.stylize_frames([np.zeros((8, 8, 3))]))


def test_stabilize_applies_where_every_frame_is_stylized_and_says_when_it_cannot(model, capsys):
    rng = np.random.default_rng(3)
    texture = rng.integers(0, 255, (24, 40, 3), dtype=np.uint8)
    frames = [np.ascontiguousarray(np.roll(texture, i, axis=1)[:, :32]) for i in range(4)]  # a slow pan
    every = vidstyle.CarryConfig(keyframes="every")
    stable = list(model.stylize_frames(frames, carry=every))
    plain = list(model.stylize_frames(frames, carry=every, stabilize=False))
    assert np.array_equal(stable[0], plain[0])  # the first frame has nothing to blend with
    assert np.abs(stable[3].astype(int) - plain[3].astype(int)).mean() > 1.0  # later ones are blended
    capsys.readouterr()
    carried = list(model.stylize_frames(frames, stabilize=False))  # the CPU default carries looks
    assert len(carried) == 4
    assert "StabilizeConfig(enabled=...): no effect where looks are carried between keyframes" in \
        capsys.readouterr().err


def test_errors_name_parameters_not_flags(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", frames=4, audio=None)
    with pytest.raises(InputError) as caught:
        vidstyle.train(SAMPLES / "starry_night.jpg", clip, config=FAST, train_frame="#9", device="cpu")
    assert str(caught.value) == "train_frame= #9 is past the end of c.mp4 (4 frames); pick a smaller index"
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"mine")
    with pytest.raises(OutputError, match="already exists; pass overwrite=True to replace it"):
        vidstyle.stylize_files([clip], vidstyle.RunConfig(style=str(SAMPLES / "starry_night.jpg")), output=taken)
    assert taken.read_bytes() == b"mine"


def test_stylize_video_keeps_timestamps_and_audio(model, tmp_path):
    pts = [0, 40, 90, 130, 200, 260]
    src = make_clip(tmp_path / "vfr.mp4", time_base=Fraction(1, 1000), pts=pts)
    seen = []
    result = model.stylize_video(src, tmp_path / "out.mp4", progress=lambda *a: seen.append(a))
    before, after = read_clip(src), read_clip(tmp_path / "out.mp4")
    assert result.ok and result.output == tmp_path / "out.mp4"
    assert after.pts == before.pts and after.frames == before.frames
    assert after.audio == before.audio
    assert seen[-1] == ("vfr.mp4", before.frames, before.frames)
    assert leftovers(tmp_path) == [] and not (tmp_path / "out_preview.png").exists()
    with pytest.raises(OutputError):
        model.stylize_video(src, src, overwrite=True)  # never over its own input


def test_readme_python_section_runs(tmp_path, monkeypatch):
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "samples").symlink_to(SAMPLES)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert read_clip(tmp_path / "clip_styled.mp4").frames == read_clip(SAMPLES / "clip.mp4").frames
    assert Image.open(tmp_path / "scream_styled.png").size == Image.open(SAMPLES / "the_scream.jpg").size
