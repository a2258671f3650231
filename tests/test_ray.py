"""The batch on a real local Ray cluster (cluster/): one cluster for the module, 2 CPUs, no
dashboard, a small object store. Skipped where the ``ray`` extra is not installed."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from support import REPO, SAMPLES, leftovers, make_clip, pictures, read_clip

from vidstyle.media.synthetic import pan_over

ray = pytest.importorskip("ray")

from vidstyle.cluster.connect import INSTALL, check_nodes, import_ray  # noqa: E402 - after the skip
from vidstyle.cluster.driver import stylize_on_ray  # noqa: E402
from vidstyle.config import CarryConfig, EncodeConfig, RunConfig, TrainConfig  # noqa: E402
from vidstyle.devices import cpu_threads  # noqa: E402
from vidstyle.errors import InputError, VidstyleError  # noqa: E402
from vidstyle.pipeline import stylize_paths  # noqa: E402
from vidstyle.reporting import Reporter  # noqa: E402

FAST = TrainConfig(steps=3, train_size=64, loss_network="pyramid")
CONFIG = RunConfig(style=str(SAMPLES / "starry_night.jpg"), train=FAST, device="cpu")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20, logging_level="ERROR")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def hidden(folder: Path) -> list[str]:
    """Temporary outputs, segments or probes left anywhere below ``folder``."""
    return leftovers(folder) + sorted(p.name for p in folder.rglob(".*"))


def test_a_batch_of_three_clips_as_the_one_machine_run_writes_it(cluster, tmp_path, capsys):
    clips = [make_clip(tmp_path / f"c{i}.mp4", frames=12 + 4 * i) for i in range(3)]
    (tmp_path / "ray").mkdir()
    (tmp_path / "one").mkdir()
    # Lossless, so that the pictures compare (x264 at crf 18 is not bit-reproducible from run to run here,
    # one-machine runs included); one thread, as each task (1 CPU) runs torch and OpenCV: the same arithmetic.
    config = replace(CONFIG, encode=EncodeConfig(crf=0))
    with cpu_threads(1):
        results = stylize_on_ray(clips, config, Reporter(), out_dir=tmp_path / "ray")
        assert [r.ok for r in results] == [True] * 3, results
        assert "3 input(s) on Ray" in capsys.readouterr().err  # the one bar
        stylize_paths(clips, config, Reporter(quiet=True), out_dir=tmp_path / "one")
    for clip in clips:
        name = f"{clip.stem}_styled.mp4"
        got, want = read_clip(tmp_path / "ray" / name), read_clip(tmp_path / "one" / name)
        assert (got.frames, got.pts, got.audio) == (want.frames, want.pts, want.audio)
        assert all(np.array_equal(a, b) for a, b in zip(pictures(tmp_path / "ray" / name),
                                                        pictures(tmp_path / "one" / name), strict=True))
        assert (tmp_path / "ray" / f"{clip.stem}_styled_preview.png").exists()
    assert hidden(tmp_path) == []
    again = stylize_on_ray(clips, replace(config, skip_existing=True), Reporter(quiet=True),
                           out_dir=tmp_path / "ray")  # resumable: nothing left to do, no cluster needed
    assert all(r.ok and r.skipped for r in again)


def test_a_bad_clip_fails_alone(cluster, tmp_path):
    good = [make_clip(tmp_path / f"good{i}.mp4", frames=24) for i in range(2)]
    short = make_clip(tmp_path / "short.mp4", frames=6)  # fails in its task: no frame #20
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")  # fails while planning, before any work
    config = replace(CONFIG, train_frame="#20")
    results = stylize_on_ray([short, good[0], broken, good[1]], config, Reporter(quiet=True), out_dir=tmp_path)
    assert [r.ok for r in results] == [False, True, False, True]  # trained on the first clip that can be
    assert "#20 is past the end of short.mp4" in results[0].message
    assert "not a readable video" in results[2].message
    assert read_clip(tmp_path / "good1_styled.mp4").frames == 24 and not (tmp_path / "short_styled.mp4").exists()
    with pytest.raises(VidstyleError, match="past the end"):  # one input: its error is raised, as on one machine
        stylize_on_ray([short], config, Reporter(quiet=True), output=tmp_path / "one.mp4")
    assert hidden(tmp_path) == []


def test_a_segmented_clip_that_fails_fails_alone_and_its_segments_go(cluster, tmp_path, capsys):
    good, bad = make_clip(tmp_path / "good.mp4", frames=48), make_clip(tmp_path / "bad.mp4", frames=32)
    config = replace(CONFIG, train_frame="#46", preview=False)
    results = stylize_on_ray([good, bad], config, Reporter(), out_dir=tmp_path, segment_frames=24)
    assert [r.ok for r in results] == [True, False] and "#46 is past the end of bad.mp4" in results[1].message
    assert "; 2 segments)" in capsys.readouterr().err
    assert read_clip(tmp_path / "good_styled.mp4").frames == 48
    assert hidden(tmp_path) == []


def test_a_worker_killed_mid_render_is_retried_and_leaves_nothing_partial(cluster, tmp_path):
    clip = make_clip(tmp_path / "c.mp4", frames=32)
    out = tmp_path / "out.mp4"
    config = replace(CONFIG, carry=CarryConfig(keyframes="every"), preview=False)
    killed = []

    def kill_the_renderer():
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            if leftovers(tmp_path) and not out.exists():  # its temporary output is being written
                for pid in _processes("ray::render_job"):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_renderer)
    killer.start()
    try:
        [result] = stylize_on_ray([clip], config, Reporter(quiet=True), output=out)  # too short to split
    finally:
        killed.append(None)  # stop looking
        killer.join()
    assert killed[0] is not None, "the render ended before it could be killed"
    assert result.ok and read_clip(out).frames == 32
    assert hidden(tmp_path) == []


def test_a_clip_split_into_segments_equals_the_plain_run(cluster, tmp_path, capsys):
    photo = cv2.cvtColor(cv2.imread(str(SAMPLES / "starry_night.jpg")), cv2.COLOR_BGR2RGB)
    clip = make_clip(tmp_path / "pan.mp4", frames=100, audio_streams=2,
                     painter=lambda width, height, i: pan_over(photo, width, height, i / 99))  # real motion
    config = replace(CONFIG, encode=EncodeConfig(crf=0), preview=False)  # lossless: the pictures compare
    with cpu_threads(1):
        stylize_paths([clip], config, Reporter(quiet=True), output=tmp_path / "plain.mp4")
        [result] = stylize_on_ray([clip], config, Reporter(), output=tmp_path / "ray.mp4", segment_frames=50)
    assert result.ok and "; 2 segments)" in capsys.readouterr().err
    got, want = read_clip(tmp_path / "ray.mp4"), read_clip(tmp_path / "plain.mp4")
    assert (got.frames, got.pts, got.audio, got.time_base) == (want.frames, want.pts, want.audio, want.time_base)
    difference = [np.abs(a - b).mean() for a, b in zip(pictures(tmp_path / "ray.mp4"),
                                                       pictures(tmp_path / "plain.mp4"), strict=True)]
    assert max(difference) < 0.05  # at the seam (frame 48) too: measured 0.003 (README, Scale out)
    assert hidden(tmp_path) == []


def test_a_photoreal_model_renders_in_segments_as_on_one_machine(cluster, tmp_path, capsys):
    """The workers grade as the model says (photoreal, fitted at the size it was trained at,
    here 64 px where a CPU's default is larger), once per clip: its preview is written once."""
    clip = make_clip(tmp_path / "c.mp4", frames=96)
    model = tmp_path / "look.pt"
    photoreal = replace(CONFIG, style=str(SAMPLES / "the_scream.jpg"), train=replace(FAST, photoreal=True),
                        save_model=str(model), preview_only=True)
    stylize_paths([clip], photoreal, Reporter(quiet=True), output=tmp_path / "train.mp4")
    config = RunConfig(model_path=str(model), style=photoreal.style, device="cpu",  # the style: for the preview
                       encode=EncodeConfig(crf=0))  # no --photoreal: the model says
    with cpu_threads(1):
        stylize_paths([clip], replace(config, preview=False), Reporter(quiet=True), output=tmp_path / "plain.mp4")
        [result] = stylize_on_ray([clip], config, Reporter(), output=tmp_path / "ray.mp4", segment_frames=48)
    assert result.ok and "; 2 segments)" in capsys.readouterr().err
    assert (tmp_path / "ray_preview.png").exists()
    difference = [np.abs(a - b).mean() for a, b in zip(pictures(tmp_path / "ray.mp4"),
                                                       pictures(tmp_path / "plain.mp4"), strict=True)]
    assert max(difference) < 0.05
    assert hidden(tmp_path) == []


def test_ctrl_c_on_the_driver_cancels_every_task_and_leaves_nothing(cluster, tmp_path):
    clip = make_clip(tmp_path / "long.mp4", frames=160)
    script = textwrap.dedent(f"""
        import signal, sys
        from pathlib import Path
        from vidstyle.cluster.driver import stylize_on_ray
        signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even under a runner
                                                                  # started in the background (SIGINT ignored)
        from vidstyle.config import RunConfig, TrainConfig
        from vidstyle.reporting import Reporter
        config = RunConfig(style={CONFIG.style!r}, train=TrainConfig(steps=3, train_size=64, loss_network="pyramid"),
                           device="cpu", preview=False)
        try:
            stylize_on_ray([Path({str(clip)!r})], config, Reporter(quiet=True),
                           output=Path({str(tmp_path / 'o.mp4')!r}), address={cluster!r}, segment_frames=80)
        except KeyboardInterrupt:
            sys.exit(130)
    """)
    driver = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(".partial" in p.name and ".seg" in p.name for p in tmp_path.iterdir()):  # segments rendering
        assert driver.poll() is None and time.monotonic() < deadline, driver.stderr.read() if driver.stderr else ""
        time.sleep(0.05)
    driver.send_signal(signal.SIGINT)
    assert driver.wait(timeout=60) == 130, driver.stderr.read()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]  # no output, preview, segment, partial
    deadline = time.monotonic() + 30
    while ray.available_resources().get("CPU", 0) < 2:  # the tasks were stopped, not left running
        assert time.monotonic() < deadline, ray.available_resources()
        time.sleep(0.2)


def test_a_node_that_cannot_see_the_files_stops_the_run_before_any_work(tmp_path):
    clip = make_clip(tmp_path / "c.mp4", frames=2)
    HERE, THERE = "a" * 56, "b" * 56  # noqa: N806 - Ray's node ids

    class Node:  # Ray's API as check_nodes uses it, on two machines; the second mounts nothing
        def get_runtime_context(self):
            return SimpleNamespace(get_node_id=lambda: HERE)

        def nodes(self):
            return [{"Alive": True, "NodeID": HERE, "NodeManagerAddress": "10.0.0.1"},
                    {"Alive": True, "NodeID": THERE, "NodeManagerAddress": "10.0.0.2"}]

        def remote(self, **_):
            return lambda probe: SimpleNamespace(options=lambda scheduling_strategy: SimpleNamespace(
                remote=lambda reads, folders: probe([tmp_path / "elsewhere" / r.name for r in reads], folders)
                if scheduling_strategy.node_id == THERE else probe(reads, folders)))

        def get(self, results, timeout):
            return results

    alone = Node()
    alone.nodes = lambda: Node().nodes()[:1]
    check_nodes(alone, [clip], [tmp_path])  # this machine alone: nothing to probe
    with pytest.raises(InputError, match=r"^node 10.0.0.2 cannot read .*elsewhere/c.mp4 \(not found\): a cluster "
                                         r"of several machines needs a shared filesystem"):
        check_nodes(Node(), [clip], [tmp_path])


def test_without_the_extra_ray_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(VidstyleError) as error:
        import_ray()
    assert str(error.value) == INSTALL == "--ray needs the ray extra: pip install 'vidstyle[ray]'"


def _processes(title: str) -> list[int]:
    """Processes whose command line starts with ``title`` (Ray names a worker after its task)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(title.encode()):
                found.append(int(entry.name))
        except OSError:
            continue
    return found
