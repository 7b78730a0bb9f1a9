"""Many images on many machines: the per-image work as Ray tasks (issue 14).

    driver (the sgaplus process)                         Ray workers
      plans the work (skips finished outputs),
      loads each image, submits one task per image ──▶  pipeline.code_images (compress) or
      (per batch of same-size images on a GPU)          units.compute (experiment): the
      writes each returned result atomically  ◀──────   functions the single-process path calls

The driver alone reads inputs and writes outputs, so workers need neither the input
folder nor a shared file system: a task receives the decoded image and the model
through Ray's object store and returns the file's bytes (or the unit's figures). A
task whose worker dies is retried by Ray (``MAX_RETRIES``); a task that raises fails
only its own images; a file is written only whole (the caller writes atomically), so
re-running the command continues where it stopped.

At most ``IN_FLIGHT_PER_SLOT`` tasks per CPU (GPU) of the cluster are submitted at a
time, so the driver holds only as many decoded images as can be worked on. Each CPU
task asks Ray for the memory :mod:`sgaplus.memory` estimates (at most ``--max-memory``),
so a node runs only as many refinements at once as its memory holds.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from . import memory

#: Attempts Ray makes after a task's worker process dies (not after an exception).
MAX_RETRIES = 3

#: Tasks in flight per CPU (GPU) slot of the cluster: one running, one waiting.
IN_FLIGHT_PER_SLOT = 2

#: Host names of this machine's loopback interface.
LOOPBACK = ("127.0.0.1", "localhost")

#: Where ``ray start`` (2.60) keeps the token its cluster's clients must present; a client
#: sends it only with ``RAY_AUTH_MODE=token``, and a cluster without authentication
#: accepts such a client too (tried: ``RAY_AUTH_MODE=disabled ray start --head``).
AUTH_TOKEN = os.path.join("~", ".ray", "auth_token")

K = TypeVar("K")


@contextmanager
def runtime(address: str | None) -> Iterator[None]:
    """Connect to Ray for the duration: the runtime already initialised in this process,
    the cluster at ``address``, or (None) a local runtime on the loopback interface,
    shut down afterwards."""
    if "ray" not in sys.modules and (address is None or address.split(":")[0] in LOOPBACK):
        # Ray binds a local runtime to the machine's network address, and turns a loopback
        # ADDRESS into that address, unless told it is not a cluster; a runtime on this
        # machine needs only the loopback interface.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if address is not None and "RAY_AUTH_MODE" not in os.environ \
            and os.path.exists(os.path.expanduser(AUTH_TOKEN)):
        # Without it a client of a `ray start` cluster is refused, after some 20 s of Ray's
        # retries, with "Failed to connect" and nothing about the token. (Ray reads it at import.)
        os.environ["RAY_AUTH_MODE"] = "token"
    import ray

    if ray.is_initialized():
        yield
        return
    kwargs: dict[str, Any] = dict(logging_level="ERROR", log_to_driver=False)
    if address is None:
        # "local": a new runtime, never one that `ray start` left running on this machine.
        ray.init(address="local", include_dashboard=False, _node_ip_address="127.0.0.1", **kwargs)
    else:
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            hint = "" if os.environ.get("RAY_AUTH_MODE") == "token" else (
                f"; if the cluster authenticates, copy the head's {AUTH_TOKEN} here (sent when "
                "RAY_AUTH_MODE is unset or token)")
            raise ConnectionError(f"cannot connect to the Ray cluster at {address}: "
                                  f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc}"
                                  f"{hint}") from None
    try:
        yield
    finally:
        ray.shutdown()


def use_gpus(device: str | None) -> bool:
    """Whether tasks take a GPU each: ``--device cuda``, or no ``--device`` on a cluster
    that has GPUs (CPU tasks see none: Ray hides the GPUs from tasks that did not ask)."""
    import ray

    gpus = int(ray.cluster_resources().get("GPU", 0))
    if device == "cuda" and not gpus:
        raise ValueError("--device cuda, but the Ray cluster has no GPU")
    return gpus > 0 and device != "cpu"


def _slots(gpu: bool) -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("GPU" if gpu else "CPU", 1)))


def _largest_node_memory() -> int:
    """The most memory (bytes) any live node offers Ray: a request above it never runs."""
    import ray

    return int(max((n["Resources"].get("memory", 0) for n in ray.nodes() if n["Alive"]), default=0))


def task_options(gpu: bool, need: int) -> dict[str, Any]:
    """Resources of one task: a GPU, or one CPU and the memory it is estimated to need."""
    if gpu:
        return {"num_gpus": 1, "num_cpus": 1, "max_retries": MAX_RETRIES}
    cap = _largest_node_memory()
    return {"num_cpus": 1, "memory": min(need, cap) if cap else need, "max_retries": MAX_RETRIES}


def failure(exc: BaseException) -> str:
    """One line for a failed task (the task's own exception, or why its worker died)."""
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


def run(tasks: Iterable[tuple[K, Callable[..., Any], tuple, dict[str, Any]]], slots: int,
        done: Callable[[K, Any], None], failed: Callable[[K, str], None]) -> None:
    """Submit ``(key, function, args, options)`` tasks, at most ``slots`` x
    :data:`IN_FLIGHT_PER_SLOT` at a time, and hand each result (or its failure) to
    ``done`` (``failed``) in the order they finish. ``tasks`` is consumed lazily."""
    import ray
    from ray.exceptions import RayError

    remote: dict[Callable[..., Any], Any] = {}
    pending: dict[Any, K] = {}
    source = iter(tasks)
    exhausted = False
    while True:
        while not exhausted and len(pending) < slots * IN_FLIGHT_PER_SLOT:
            item = next(source, None)
            if item is None:
                exhausted = True
                break
            key, fn, args, options = item
            if fn not in remote:
                remote[fn] = ray.remote(fn)
            pending[remote[fn].options(**options).remote(*args)] = key
        if not pending:
            return
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            key = pending.pop(ref)
            try:
                result = ray.get(ref)
            except RayError as exc:  # the task raised, or its worker died MAX_RETRIES + 1 times
                failed(key, failure(exc))
                continue
            done(key, result)


# -- compress ---------------------------------------------------------------------------

def code_batches(batches: Iterable[list[tuple[Any, Any]]], refiner: Any, plan: Any,
                 finish: Callable[[list, Any], None]) -> None:
    """Code batches of ``(key, LoadedImage)`` as Ray tasks of :func:`sgaplus.pipeline.code_batch`
    (see the module docstring); ``finish(batch, result)`` gets what ``code_batch`` returned,
    or the one line saying why its task failed."""
    import ray

    from .pipeline import code_batch

    gpu = refiner.device.type == "cuda"
    shared = ray.put(refiner)  # stored once in the object store, not pickled into every task

    def tasks() -> Iterator[tuple[list, Callable[..., Any], tuple, dict[str, Any]]]:
        for batch in batches:
            w, h = batch[0][1].size
            need = min(memory.need(len(batch), h, w), refiner.max_memory)
            yield batch, code_batch, (shared, [image for _, image in batch], plan), task_options(gpu, need)

    run(tasks(), _slots(gpu), finish, finish)


# -- experiments ------------------------------------------------------------------------

def unit_task(store: Any, model: Any, setting: Any, batch: list) -> tuple[list, float]:
    """A Ray task: :meth:`sgaplus.experiments.harness.units.Store.compute` for one batch."""
    from .experiments.harness.units import Job

    return store.compute(Job(model, setting), batch)


def refine_units(store: Any, jobs: list, images: list, max_batch: int,
                 log: Callable[[str], None]) -> int:
    """The missing units of ``jobs`` as Ray tasks, one per batch of same-size images (as
    :meth:`Store.run` batches them); the driver writes each unit as it arrives. Returns the
    number of batches that failed (their units stay missing; a re-run retries them)."""
    import ray

    from .experiments.harness.data import by_shape
    from .experiments.harness.units import slug

    gpu = use_gpus(store.device)
    models: dict[str, Any] = {}
    failures = 0

    def tasks() -> Iterator[tuple[tuple, Callable[..., Any], tuple, dict[str, Any]]]:
        for job in jobs:
            if job.model.key not in models:  # each model into the object store once
                models[job.model.key] = ray.put(job.model)
            for batch in by_shape(store.missing(job, images), max_batch):
                h, w = batch[0].x.shape[-2:]
                need = memory.need(len(batch), h, w)
                yield ((job, batch), unit_task, (store, models[job.model.key], job.setting, batch),
                       task_options(gpu, need))

    def done(key: tuple, result: tuple[list, float]) -> None:
        job, batch = key
        store.save(job, result[0])
        log(f"  {job.model.key} {slug(job.setting)} {', '.join(im.id for im in batch)}: "
            f"done in {result[1]:.0f} s")

    def failed(key: tuple, message: str) -> None:
        nonlocal failures
        job, batch = key
        failures += 1
        log(f"  {job.model.key} {slug(job.setting)} {', '.join(im.id for im in batch)}: failed: {message}")

    run(tasks(), _slots(gpu), done, failed)
    return failures
