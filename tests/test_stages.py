import threading
import time

import numpy as np
import pytest

from vidstyle.loop import DRAW_FRAMES, PACKETS_PER_FRAME, QUEUE_CHUNKS, Renderer, Sink, run
from vidstyle.media.frames import Frame
from vidstyle.render.stages import batched, read_ahead, write_behind


def test_read_ahead_keeps_order_and_stays_bounded():
    produced = []

    def items():
        for i in range(50):
            produced.append(i)
            yield i

    seen, lead = [], 0
    with read_ahead(items(), size=3) as it:
        for item in it:
            time.sleep(0.002)
            lead = max(lead, len(produced) - len(seen))
            seen.append(item)
    assert seen == list(range(50))
    assert lead <= 5  # queue of 3, one in the producer's hand, one in ours


def test_read_ahead_raises_the_producers_error_in_the_caller():
    def items():
        yield 1
        raise ValueError("broken packet")

    with pytest.raises(ValueError, match="broken packet"), read_ahead(items(), size=2) as it:
        list(it)


def test_read_ahead_stops_the_producer_when_the_caller_fails():
    def endless():
        i = 0
        while True:
            i += 1
            yield i

    before = threading.active_count()
    with pytest.raises(KeyboardInterrupt), read_ahead(endless(), size=2) as it:
        next(it)
        raise KeyboardInterrupt
    assert threading.active_count() == before


def test_write_behind_handles_every_item_in_order_before_the_exit():
    handled = []
    with write_behind(lambda x: (time.sleep(0.001), handled.append(x)), size=2) as put:
        for i in range(30):
            put(i)
    assert handled == list(range(30))


def test_write_behind_raises_the_handlers_error():
    def handle(x):
        if x == 3:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), write_behind(handle, size=2) as put:
        for i in range(100):
            put(i)
            time.sleep(0.001)


def test_batched_groups_frames_and_lets_others_through_in_order():
    items = [1, 2, "a", 3, 4, 5, "b", 6]
    out = list(batched(items, 2, lambda x: isinstance(x, int)))
    assert out == [[1, 2], "a", [3, 4], "b", [5, 6]]


class _Frames:
    """A source of ``n`` tiny frames, numbered in their pixels, and an item to pass through
    (a clip's audio packet) after the first."""

    def __init__(self, n):
        self.n = n

    def stream(self):
        for i in range(self.n):
            yield Frame(rgb=np.full((2, 2, 3), i, np.uint8), pts=i)
            if i == 0:
                yield "audio"


class _Doubling(Renderer):
    batch_size = 2

    def __init__(self, draw):
        self._draw = draw

    def submit(self, frames):
        return [f * 2 for f in frames]

    def draw(self, frames, staged):
        return self._draw(frames, staged)


class _ListSink(Sink):
    """Records what it gets, in order: (pts, picture value) for a frame, the item for a copy."""

    def __init__(self, before_write):
        self.events, self.before_write = [], before_write

    @property
    def pictures(self):
        return [e for e in self.events if isinstance(e, tuple)]

    def write(self, frame, picture):
        self.before_write(frame)
        self.events.append((frame.pts, int(picture[0, 0, 0])))

    def copy(self, item):
        self.events.append(item)


def test_the_loop_draws_the_next_batch_while_the_sink_writes_the_last():
    """Drawing (a GPU render's stabilizer) and writing (its encoder) can each be the slowest
    stage: they run in threads of their own, so their times overlap instead of adding up. The
    sink holds the first frame until the second batch is drawn, which one thread could not do."""
    second_drawn = threading.Event()

    def draw(frames, staged):
        if int(frames[0][0, 0, 0]) == 2:
            second_drawn.set()
        return staged

    def write(frame):
        if frame.pts == 0:
            assert second_drawn.wait(5), "the second batch was not drawn while the first was written"

    sink = _ListSink(write)
    assert run(_Frames(6), _Doubling(draw), sink) == 6
    # the audio item came after frame 0, while its batch was open: it goes out first, then every
    # frame in order with its own picture
    assert sink.events == ["audio", *[(i, 2 * i) for i in range(6)]]


@pytest.mark.parametrize("where", ["draw", "write"])
def test_the_loop_raises_an_error_from_the_drawer_or_the_writer_and_stops(where):
    def draw(frames, staged):
        if where == "draw" and int(frames[0][0, 0, 0]) == 2:
            raise ValueError("broken draw")
        return staged

    def write(frame):
        if where == "write" and frame.pts == 3:
            raise ValueError("broken write")

    before = threading.active_count()
    sink = _ListSink(write)
    with pytest.raises(ValueError, match=f"broken {where}"):
        run(_Frames(40), _Doubling(draw), sink)
    assert threading.active_count() == before
    assert len(sink.pictures) < 40


class _Numbered(Renderer):
    """Stages each frame's number doubled, one frame a call; ``on_submit`` and ``on_draw`` see
    each frame's number as it is submitted and drawn."""

    batch_size = 1

    def __init__(self, on_submit, on_draw):
        self.on_submit, self.on_draw = on_submit, on_draw

    def submit(self, frames):
        self.on_submit(int(frames[0][0, 0, 0]))
        return [f * 2 for f in frames]

    def draw(self, frames, staged):
        self.on_draw(int(frames[0][0, 0, 0]))
        return staged


class _FrameThenPackets:
    """Frame 0, then ``packets`` items to pass through (a clip's audio), then frames 1 to 3."""

    def __init__(self, packets):
        self.packets = packets

    def stream(self):
        yield Frame(rgb=np.zeros((2, 2, 3), np.uint8), pts=0)
        yield from (f"audio {k}" for k in range(self.packets))
        for i in range(1, 4):
            yield Frame(rgb=np.full((2, 2, 3), i, np.uint8), pts=i)


def test_packets_passing_through_do_not_hold_up_the_renderer_while_a_batch_is_drawn():
    """A carried clip's drawer gets a keyframe window at once and takes a while over it; the
    audio packets that came meanwhile filled the drawer's queue of one item and held up the
    generator's thread (1.0 s of a 7.7-s 720p run). The queue is bounded by frames now."""
    frame_3_submitted = threading.Event()

    def on_draw(number):
        if number == 0:
            assert frame_3_submitted.wait(5), "the renderer waited for frame 0 to be drawn"

    renderer = _Numbered(lambda number: number == 3 and frame_3_submitted.set(), on_draw)
    sink = _ListSink(lambda frame: None)
    assert run(_FrameThenPackets(20), renderer, sink) == 4
    assert sink.events == [(0, 0), *(f"audio {k}" for k in range(20)), (1, 2), (2, 4), (3, 6)]


def test_the_frames_waiting_for_the_drawer_stay_bounded():
    submitted = []

    def on_draw(number):
        if number == 0:
            time.sleep(0.3)  # the renderer fills the drawer's queue meanwhile, and waits
            submitted.append(len(renderer_seen))

    renderer_seen = []
    sink = _ListSink(lambda frame: None)
    assert run(_Frames(40), _Numbered(renderer_seen.append, on_draw), sink) == 40
    # frame 0 being drawn, DRAW_FRAMES waiting (less the room the audio packet takes), and the
    # one waiting its turn (a queue of one item: 3)
    assert DRAW_FRAMES <= submitted[0] <= DRAW_FRAMES + 2
    assert [e for e in sink.events if e != "audio"] == [(i, 2 * i) for i in range(40)]


def test_packets_waiting_for_the_drawer_stay_bounded_too():
    # audio that runs on past the last frame passes a window being drawn, but not without end
    yielded = []

    class _FrameThenAudio:
        def stream(self):
            yield Frame(rgb=np.zeros((2, 2, 3), np.uint8), pts=0)
            for k in range(5000):
                yielded.append(k)
                yield f"audio {k}"

    seen = []

    def on_draw(number):
        time.sleep(0.3)  # the packets fill the drawer's queue meanwhile
        seen.append(len(yielded))

    sink = _ListSink(lambda frame: None)
    assert run(_FrameThenAudio(), _Numbered(lambda number: None, on_draw), sink) == 1
    room = DRAW_FRAMES * PACKETS_PER_FRAME  # plus one in the renderer's hand and the decoder's few
    assert room <= seen[0] <= room + QUEUE_CHUNKS + 4
    assert sink.events == [(0, 0), *(f"audio {k}" for k in range(5000))]
