import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"


@pytest.fixture
def style_path() -> Path:
    return SAMPLES / "starry_night.jpg"


@pytest.fixture(autouse=True)
def _offline_builtin_loss_network(monkeypatch, tmp_path):
    """Tests never download: the loss network is the built-in pyramid unless a test says
    otherwise, and the torch hub cache is an empty temporary folder."""
    monkeypatch.setenv("VIDSTYLE_LOSS_NETWORK", "pyramid")
    monkeypatch.delenv("VIDSTYLE_VGG_WEIGHTS", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("VIDSTYLE_DEBUG", raising=False)
