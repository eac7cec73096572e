"""Run one function per video in worker processes, with a progress bar, yielding results as they
finish so the caller can persist each one at once (a crash loses only the videos in flight)."""
from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator

from tqdm import tqdm


def _init_worker() -> None:
    # One torch/BLAS thread per worker: two threads per process on two busy cores run many
    # times slower than one.
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass


def map_videos(fn: Callable[[Any], Any], items: Iterable[Any], *, workers: int, desc: str,
               total: int | None = None) -> Iterator[Any]:
    """Yield ``fn(item)`` for every item, in completion order. ``workers <= 1`` runs inline."""
    items = list(items)
    bar = tqdm(total=total if total is not None else len(items), desc=desc, unit="video",
               disable=None, dynamic_ncols=True)
    try:
        if workers <= 1:
            for item in items:
                yield fn(item)
                bar.update()
            return
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) as pool:
            pending = set()
            queue = iter(items)
            for item in queue:
                pending.add(pool.submit(fn, item))
                if len(pending) >= 2 * workers:
                    break
            try:
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
                        bar.update()
                        nxt = next(queue, None)
                        if nxt is not None:
                            pending.add(pool.submit(fn, nxt))
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    finally:
        bar.close()
