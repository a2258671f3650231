"""A batch of clips, or one long clip, across every core, GPU and machine of a Ray cluster.

- `driver.py` — `stylize_on_ray`: plan and check every job as the one-machine run does
  (pipeline.plan_jobs, which also skips finished outputs), connect, train once, hand out the
  work, one progress bar, Ctrl-C;
- `units.py` — the unit of work: which clips are split into segments, and into how many;
- `connect.py` — Ray itself: imported only here and in `tasks.py`, when a run asks for it; the
  cluster to use; the check that every node sees the files;
- `tasks.py` — what runs on the workers: a job, a segment, a join, the training on a GPU.

Nothing here imports Ray, torch or the pipeline at import time: a worker that only counts
progress stays small.
"""
