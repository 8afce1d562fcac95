"""Running the ``scaledrop`` command as several processes under ``torchrun``.

``torchrun`` (``python -m torch.distributed.run``) starts one process per GPU (or per CPU
slot) and tells each its place in the environment: ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``
(and ``MASTER_ADDR`` / ``MASTER_PORT``, which :func:`torch.distributed.init_process_group`
reads). :func:`process_group` joins that group for the duration of a command: the NCCL
backend on CUDA (one GPU per process, chosen by ``LOCAL_RANK``), gloo on the CPU. Outside
``torchrun``, or with one process, nothing is set up and every helper here behaves as a single
process: rank 0 of 1, barriers return at once, a gather returns its own input.

Training uses torch's own machinery (``DistributedDataParallel`` and ``DistributedSampler``,
see :func:`scaledrop_lib.routines.train.fit`); evaluation shards the test images by whole
evaluation batches (:func:`shard`) and gathers the samples in rank order (:func:`all_gather`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist

#: The variables torchrun sets for each process it starts.
LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Launch:
    """Where ``torchrun`` put this process: its global rank, the number of processes, and its
    rank on this machine (which GPU it drives)."""

    rank: int
    world_size: int
    local_rank: int


def _variable(environ: Mapping[str, str], name: str) -> int:
    text = environ[name]
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"environment variable {name}={text!r} must be an integer") from None
    if value < 0:
        raise ValueError(f"environment variable {name}={text!r} must be >= 0")
    return value


def launch_from_env(environ: Mapping[str, str] | None = None) -> Launch | None:
    """The :class:`Launch` torchrun describes in ``environ`` (default ``os.environ``), or
    ``None`` when this process was not started by torchrun (none of ``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK`` is set).

    Raises
    ------
    ValueError
        Only some of the three variables are set, or one is not an integer, or ``RANK`` is
        not below ``WORLD_SIZE``: the message names the variable.
    """
    environ = os.environ if environ is None else environ
    present = [name for name in LAUNCH_VARIABLES if name in environ]
    if not present:
        return None
    missing = [name for name in LAUNCH_VARIABLES if name not in environ]
    if missing:
        raise ValueError(
            f"environment variables {', '.join(missing)} are not set but {', '.join(present)} "
            "are: start the command with torchrun, which sets all of them, or unset them"
        )
    launch = Launch(*(_variable(environ, name) for name in LAUNCH_VARIABLES))
    if launch.world_size < 1 or launch.rank >= launch.world_size:
        raise ValueError(
            f"environment variables RANK={launch.rank} and WORLD_SIZE={launch.world_size}: "
            "RANK must lie in [0, WORLD_SIZE)"
        )
    return launch


def is_distributed() -> bool:
    """Whether this process is one of several in an initialised process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 outside a process group)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """The number of processes (1 outside a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Whether this is rank 0: the process that logs, shows progress and writes files."""
    return rank() == 0


def barrier() -> None:
    """Wait until every process gets here (nothing to wait for in a single process)."""
    if is_distributed():
        dist.barrier()


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first, the others after it finished (e.g. so that only one
    process downloads a dataset into a shared folder); a no-op in a single process."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def all_gather(tensor: torch.Tensor | None) -> list[torch.Tensor | None]:
    """Every process's ``tensor`` (any shape, any length, or ``None`` for nothing), in rank
    order, on every process; the tensors come back on the CPU.

    Uses :func:`torch.distributed.all_gather_object`, which pickles, so shapes may differ
    between ranks (gloo on the CPU; with NCCL the bytes travel through this process's GPU).
    A single process gets ``[tensor]``.
    """
    if tensor is not None and not isinstance(tensor, torch.Tensor):
        raise TypeError(f"tensor must be a torch.Tensor or None, got {type(tensor).__name__}")
    local = None if tensor is None else tensor.detach().cpu()
    if not is_distributed():
        return [local]
    gathered: list[torch.Tensor | None] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, local)
    return gathered


def gather_cat(tensor: torch.Tensor | None, dim: int = 0) -> torch.Tensor:
    """The ranks' ``tensor`` s concatenated along ``dim`` in rank order (``None`` adds
    nothing), on every process; in a single process ``tensor`` itself (on the CPU).

    Raises
    ------
    ValueError
        Every rank passed ``None``.
    """
    parts = [part for part in all_gather(tensor) if part is not None]
    if not parts:
        raise ValueError("gather_cat: no rank passed a tensor")
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=dim)


def shard(n: int, batch_size: int | None, ranks: int | None = None, index: int | None = None):
    """This process's contiguous part of ``n`` inputs, made of whole batches of
    ``batch_size`` (the last one may be short): a ``slice``, empty where there are fewer
    batches than processes.

    Whole batches keep every input in the same forward batch as in one process, so a
    computation that depends on the batch (kernel choice, a naive loop's masks) sees the same
    batches. ``batch_size=None`` is one batch of ``n``; ``ranks`` and ``index`` default to
    :func:`world_size` and :func:`rank`.
    """
    ranks = world_size() if ranks is None else ranks
    index = rank() if index is None else index
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    if not 0 <= index < ranks:
        raise ValueError(f"index must lie in [0, ranks) = [0, {ranks}), got {index}")
    size = n if batch_size is None else batch_size
    batches = -(-n // size) if size else 0
    first, last = batches * index // ranks, batches * (index + 1) // ranks
    return slice(min(first * size, n), min(last * size, n))


def _device(requested: str, launch: Launch) -> str:
    """The device of this process: ``cuda:<LOCAL_RANK>`` for a CUDA request, else as asked."""
    device = torch.device(requested)
    if device.type != "cuda":
        return requested
    if device.index is not None and device.index != launch.local_rank:
        raise ValueError(
            f"--device {requested}: under torchrun each process drives the GPU of its "
            f"LOCAL_RANK ({launch.local_rank}); pass --device cuda (or auto)"
        )
    if launch.local_rank >= torch.cuda.device_count():
        raise ValueError(
            f"LOCAL_RANK={launch.local_rank} but this machine has {torch.cuda.device_count()} "
            "CUDA devices: start at most that many processes per node (--nproc_per_node)"
        )
    return f"cuda:{launch.local_rank}"


@contextlib.contextmanager
def process_group(device: str) -> Iterator[str]:
    """Join torchrun's process group for the block; yields the device this process uses.

    Under torchrun with two or more processes: NCCL on CUDA (each process on the GPU of its
    ``LOCAL_RANK``), gloo on the CPU; the group is destroyed on exit, also after an error or
    Ctrl-C. Outside torchrun, with one process, or when a group is already initialised (by
    the caller, who then owns it), it does nothing and yields ``device`` unchanged.

    Parameters
    ----------
    device : str
        The resolved device (``"cpu"``, ``"cuda"``, ...), not ``"auto"``.

    Raises
    ------
    ValueError
        torchrun's variables are inconsistent (:func:`launch_from_env`), or ``device`` names
        another GPU than the process's ``LOCAL_RANK``, or there are fewer GPUs than processes
        on this machine.
    """
    if dist.is_available() and dist.is_initialized():
        yield device
        return
    launch = launch_from_env()
    if launch is None or launch.world_size == 1:
        yield device
        return
    if not dist.is_available():
        raise ValueError("this torch build has no torch.distributed: run without torchrun")
    device = _device(device, launch)
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend="nccl" if cuda else "gloo", rank=launch.rank, world_size=launch.world_size
    )
    try:
        yield device
    finally:
        dist.destroy_process_group()
