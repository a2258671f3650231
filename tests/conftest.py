from pathlib import Path

import pytest
from support import SAMPLES, make_clip


@pytest.fixture
def style_path() -> Path:
    return SAMPLES / "starry_night.jpg"


@pytest.fixture
def clip(tmp_path) -> Path:
    """A 5-frame 96x64 H.264 clip with an AAC track."""
    return make_clip(tmp_path / "clip.mp4", frames=5)


@pytest.fixture(autouse=True)
def _offline_builtin_loss_network(monkeypatch, tmp_path):
    """Tests never download: the loss network is the built-in pyramid unless a test says
    otherwise, the torch hub cache is an empty temporary folder, and nothing is cached."""
    monkeypatch.setenv("VIDSTYLE_LOSS_NETWORK", "pyramid")
    monkeypatch.delenv("VIDSTYLE_VGG_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("VIDSTYLE_CACHE", "off")  # no converted models kept: never in the user's cache, and a
    # saved model costs no conversion (tests/test_carry.py's runtime tests set a folder of their own)
    monkeypatch.delenv("VIDSTYLE_DEBUG", raising=False)
