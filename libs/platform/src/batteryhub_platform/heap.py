"""The garbage collector and a long-running service."""

from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 20_000
"""Tracked objects allocated (net) between two passes over the youngest generation; the
interpreter's default is 700. A consumer's batch or a batch upload holds tens of thousands
of containers (decoded events, their metrics, their rows) alive at once: at 700 the
collector walked them again and again while they were being built, which made decoding a
held batch ~25 % slower. Garbage in reference cycles waits a little longer: at most this
many objects, a few MB."""


def freeze_startup_heap() -> None:
    """Leave what startup built (modules, classes, models, a caught-up registry: hundreds of
    thousands of objects that live as long as the process) out of the cyclic garbage
    collector's passes. Without it, every full pass walks all of them again while a busy
    service allocates thousands of objects a batch or request; in the decoder that was a
    quarter of its CPU per reading. Called once, when startup is done. Also sets the young
    generation's threshold (``YOUNG_GENERATION_THRESHOLD``), keeping the older ones'."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)
