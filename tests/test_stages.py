import threading
import time

import pytest

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
