"""How many CPU threads torch uses for a run's work: a policy chosen by measurement, not torch's default.

torch's default is one intra-op thread per core. For the small networks of this field's 2-D and
8×8 experiments that buys little on an idle machine and collapses when other jobs share the
cores: OpenMP's worker threads spin at every barrier while the scheduler gives their core to
another process, and each operation waits for the slowest thread. Measured on 2 cores
(``benchmarks/contention.py``, docs/user-guide.md "Threads"): the default preset's training with
torch's 2 threads ran at 4.5–6.4 steps/s beside two other trainings, against 33–72 steps/s with one
thread; alone, 2 threads were 1.0–1.4× faster than one.

The policy (``train.threads``):

- ``0`` (the default, "auto"): one thread, unless the environment already chose (``OMP_NUM_THREADS``
  set, as torchrun does for its processes), in which case torch's setting is kept;
- ``N > 0``: N threads, for an idle machine with cores to spare and a network large enough to use
  them.

The command line also makes OpenMP's idle threads sleep rather than spin (``OMP_WAIT_POLICY=PASSIVE``,
unless the environment sets it), so an explicit N > 1 degrades gracefully under load.
"""

from __future__ import annotations

import os

import torch

__all__ = ["THREADS_ENV", "apply_threads", "resolve_threads"]

#: Set by the user or by torchrun: the environment has chosen the thread count.
THREADS_ENV = "OMP_NUM_THREADS"


def resolve_threads(setting: int) -> int | None:
    """The intra-op thread count for ``train.threads = setting``; None leaves torch's own setting."""
    if setting > 0:
        return setting
    if os.environ.get(THREADS_ENV, "").strip():
        return None
    return 1


def apply_threads(setting: int) -> int:
    """Set torch's intra-op threads by the policy; returns the count in effect."""
    threads = resolve_threads(setting)
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()
