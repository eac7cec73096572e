"""Run one function per video and yield results as they finish, so the caller can persist each one
at once (a crash loses only the videos in flight). Two executors:

* local: worker processes on this machine; with ``devices``, worker i sees only GPU ``devices[i]``
  (its CUDA_VISIBLE_DEVICES), so every local GPU gets its own worker(s).
* ray: one Ray task per video on a Ray cluster (the optional extra requirements-ray.txt), each asking
  the cluster for ``num_cpus``/``num_gpus``; Ray places it, sets its CUDA_VISIBLE_DEVICES and runs it
  again when its worker process dies (``max_retries``).

The function's own output (files in the dataset's folder) is the same either way: only where it
runs changes."""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from tqdm import tqdm

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class RayTasks:
    """Where the Ray executor runs and what each video's task asks of the cluster."""
    address: str | None = None    # None: start Ray on this machine; "auto": join the running cluster; "host:port"
    num_cpus: float = 1
    num_gpus: float = 0
    max_retries: int = 3          # runs of a video again after its worker process died


def init_worker(devices=None, threads: int = 1, parent: int | None = None) -> None:
    """Set up a worker process as the pipeline's workers run: ``threads`` torch/BLAS threads (one
    by default: two threads per process on two busy cores run many times slower than one), the
    GPU it takes from the ``devices`` queue, and an end when process ``parent`` ends. The
    benchmarks call it to time one process as a worker runs."""
    if parent is not None:
        _die_with_parent(parent)
    if devices is not None:
        # Before anything initialises CUDA in this (spawned) process: CUDA reads it once.
        os.environ["CUDA_VISIBLE_DEVICES"] = devices.get()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        pass


def _die_with_parent(parent: int) -> None:
    """End this worker when the stage's process ends, even by kill -9: an orphan would go on writing
    videos for a stage that is gone. Linux: the kernel kills it (PR_SET_PDEATHSIG, sent when the
    thread that started the worker, the one that called map_videos, ends); elsewhere a thread
    watches the parent's pid."""
    if sys.platform.startswith("linux"):
        try:
            if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0) == 0:  # 1: PR_SET_PDEATHSIG
                if os.getppid() != parent:      # the parent died before prctl took effect
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def prefetched(items: Iterable[Any], depth: int) -> Iterator[Any]:
    """The items of ``items``, computed ahead in a thread (at most ``depth`` waiting): CPU work
    (reading and preparing the next frames) overlaps with what the caller does with the last ones
    (the model on the GPU). An exception in the thread is raised here; closing stops the thread."""
    ready: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop, end = threading.Event(), object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((end, None))
        except BaseException as error:     # handed over to the consumer
            put((None, error))

    thread = threading.Thread(target=work, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is end:
                return
            yield item
    finally:
        stop.set()
        thread.join()


# -- GPUs -----------------------------------------------------------------------------------------

def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries (ids or UUIDs)."""
    try:
        import torch
        count = torch.cuda.device_count()
    except ImportError:
        count = 0
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return [str(i) for i in range(count)]
    return [d.strip() for d in listed.split(",") if d.strip()][:count]


def gpu_devices(visible: Sequence[str], gpus: int | str, workers_per_gpu: int = 1) -> list[str]:
    """The CUDA_VISIBLE_DEVICES of each local worker, one entry per worker: ``workers_per_gpu``
    workers on each of the ``gpus`` first visible GPUs (``auto``: all of them; 0: none, the caller
    keeps its CPU workers)."""
    if workers_per_gpu < 1:
        raise ValueError(f"workers_per_gpu must be >= 1, got {workers_per_gpu}")
    if gpus == "auto":
        chosen = list(visible)
    else:
        if int(gpus) < 0 or int(gpus) > len(visible):
            raise ValueError(f"{gpus} GPUs asked for, {len(visible)} visible "
                             f"({', '.join(visible) or 'none'}): set gpus to auto or at most {len(visible)}")
        chosen = list(visible)[:int(gpus)]
    return [device for device in chosen for _ in range(workers_per_gpu)]


# -- executors ------------------------------------------------------------------------------------

def map_videos(fn: Callable[[Any], Any], items: Iterable[Any], *, workers: int, desc: str,
               total: int | None = None, devices: Sequence[str] = (), ray: RayTasks | None = None,
               on_lost: Callable[[Any, BaseException], Any] | None = None) -> Iterator[Any]:
    """Yield ``fn(item)`` for every item, in completion order.

    Local (``ray`` None): ``workers`` processes (``<= 1``: inline), or one process per entry of
    ``devices`` pinned to that GPU. Ray: one task per item; ``on_lost(item, error)`` stands in for
    the result of an item whose worker died more than ``max_retries`` times (None: raise)."""
    items = list(items)
    if ray is not None:
        results = _map_ray(fn, items, ray, on_lost)
    elif devices:
        results = _map_pool(fn, items, len(devices), devices)
    elif workers <= 1:
        results = (fn(item) for item in items)
    else:
        results = _map_pool(fn, items, workers, None)
    bar = tqdm(total=total if total is not None else len(items), desc=desc, unit="video",
               disable=None, dynamic_ncols=True)
    try:
        for result in results:
            yield result
            bar.update()
    finally:
        results.close()            # stops the workers (or cancels the Ray tasks) still running
        bar.close()


def _map_pool(fn, items: list, workers: int, devices: Sequence[str] | None) -> Iterator[Any]:
    if devices:
        # Spawned, not forked: a fork of a process that touched CUDA cannot use CUDA.
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        for device in devices:
            queue.put(device)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=init_worker,
                                   initargs=(queue, 1, os.getpid()))
    else:
        pool = ProcessPoolExecutor(max_workers=workers, initializer=init_worker, initargs=(None, 1, os.getpid()))
    with pool:
        pending = set()
        queue_items = iter(items)
        for item in queue_items:
            pending.add(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                break
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
                    nxt = next(queue_items, None)
                    if nxt is not None:
                        pending.add(pool.submit(fn, nxt))
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def import_ray():
    try:
        import ray
    except ImportError as error:
        raise ImportError("executor: ray needs Ray, the optional extra: pip install -r "
                          f"requirements-ray.txt ({error})") from error
    return ray


def _ray_task(fn, item, threads: int):
    init_worker(threads=threads)
    return fn(item)


def _map_ray(fn, items: list, tasks: RayTasks, on_lost) -> Iterator[Any]:
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        # A process that already called ray.init (a test, a notebook, a `ray job`) keeps its own.
        ray.init(address=tasks.address, include_dashboard=False, logging_level="warning")
    pending: dict = {}
    try:
        remote = ray.remote(_ray_task).options(num_cpus=tasks.num_cpus, num_gpus=tasks.num_gpus,
                                               max_retries=tasks.max_retries, retry_exceptions=False)
        fn_ref = ray.put(fn)
        threads = max(1, int(tasks.num_cpus))
        # Tasks in flight: enough to keep the cluster busy, few enough that 240k videos are not 240k
        # task specs at once.
        slots = ray.cluster_resources().get("CPU", 1) / max(tasks.num_cpus, 1e-3)
        window = max(8, 2 * int(slots))
        queue = iter(items)

        def submit(item) -> None:
            pending[remote.remote(fn_ref, item, threads)] = item
        for item in queue:
            submit(item)
            if len(pending) >= window:
                break
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                item = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError:
                    raise                     # fn itself raised: a bug, as in the local executor
                except ray.exceptions.RayError as error:   # its worker or node died too often
                    if on_lost is None:
                        raise
                    result = on_lost(item, error)
                yield result
                nxt = next(queue, None)
                if nxt is not None:
                    submit(nxt)
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()
