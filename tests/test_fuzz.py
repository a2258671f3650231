"""A few dozen damaged clips through the real CLI, each in its own process (see fuzz_clips.py;
run it directly for hundreds): no traceback, no hang, no signal, no silently short or black output."""

from fuzz_clips import OUTCOMES, fuzz


def test_damaged_clips_end_in_a_clean_error_or_a_checked_output():
    counts, outcomes = fuzz(24, seed=7, jobs=2, timeout=120)
    bad = [o for o in outcomes if o.kind not in ("clean_error", "success")]
    assert not bad, bad
    assert sum(counts.values()) == 24 and set(counts) <= set(OUTCOMES)
    assert counts["clean_error"] > 0 and counts["success"] > 0  # the mutants span both ends
