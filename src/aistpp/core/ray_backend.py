"""Ray backend of the runner: one Ray task per sequence, on a local or remote cluster.

Installed with ``pip install 'aistpp[ray]'``. Without ``--ray-address`` a local Ray runtime
is started with this machine's cores; ``auto`` or ``HOST:PORT`` joins an existing cluster.
With ``--device cuda`` each task asks Ray for ``--gpus-per-task`` GPUs, so a GPU cluster is
filled; CPU tasks ask for one CPU each.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

from aistpp.errors import AistppError


def task_resources(options) -> dict:
    """What one Ray task asks for: a GPU share (``--gpus-per-task``) and a CPU with
    ``--device cuda``, else one CPU."""
    if options.device == "cuda":
        return {"num_gpus": options.gpus_per_task, "num_cpus": 1}
    return {"num_cpus": 1}


def run_on_ray(call: Callable, job: Callable, names: Sequence[str], options, done: Callable) -> None:
    """Run ``call(job, name)`` for every name as a Ray task; ``done(result)`` as each finishes."""
    try:
        import ray
    except ImportError:
        raise AistppError("the Ray executor needs Ray: pip install 'aistpp[ray]'") from None
    started_here = False
    if not ray.is_initialized():
        kwargs = {"ignore_reinit_error": True, "include_dashboard": False, "log_to_driver": False}
        if options.ray_address:
            kwargs["address"] = options.ray_address
        else:
            kwargs["num_cpus"] = options.workers or os.cpu_count() or 1
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise AistppError(f"cannot start or reach Ray at {options.ray_address or 'a local runtime'}: {exc}") from None
        started_here = True
    remote = ray.remote(**task_resources(options))(call)
    try:
        job_ref = ray.put(job)
        pending = {remote.remote(job_ref, n): n for n in names}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                name = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except (KeyboardInterrupt, SystemExit):
                    raise
                except Exception as exc:  # the task's worker died (killed, out of memory) or Ray failed it
                    from aistpp.core.runner import WORKER_DIED, ItemResult

                    result = ItemResult(name, "failed", 0.0, {}, f"{WORKER_DIED} ({type(exc).__name__})")
                done(result)
    except KeyboardInterrupt:
        for ref in list(pending):
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here and not options.ray_address:
            ray.shutdown()
