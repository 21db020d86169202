"""Running the study on a Ray cluster: what the cluster offers, the checks before any heavy
stage, and keeping the work off a head node that has no devices.

A Ray job's entrypoint starts on the head node. Heads are often machines without GPUs (or
started with ``--num-cpus 0`` so nothing lands there), so the pipeline does not run in the
entrypoint: ``on_a_worker`` runs it as one Ray task pinned to a node with devices, and the
entrypoint only waits for it. Inside that task every subprocess (verl's trainers, the SFT
trainer's Ray driver) sees the job's address and runtime environment, exactly as if it had
been started by the entrypoint; generation replicas and training workers are placed by Ray's
placement groups across all the device nodes.

Three mistakes are caught here, before any stage runs: a cluster with no device node, a
profile asking for more devices than the cluster has, and an output directory that some
node cannot see (every stage reads what the previous one wrote, from whichever node).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any, Optional

JOB_ENV = ("RAY_JOB_CONFIG_JSON_ENV_VAR", "RAY_OVERRIDE_JOB_RUNTIME_ENV")  # what makes a driver part of the job


class ClusterError(RuntimeError):
    """The cluster cannot run the profile as configured; raised before any stage starts."""


def on_cluster() -> bool:
    """Running against a Ray cluster of its own (a Ray job sets RAY_ADDRESS), not a one-machine run."""
    return bool(os.environ.get("RAY_ADDRESS"))


def connect() -> None:
    import ray

    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or "auto", log_to_driver=True)


def device_nodes(resource: str = "GPU") -> list[dict]:
    """Alive nodes offering ``resource`` (GPUs; logical GPUs on a CPU cluster)."""
    import ray

    out = []
    for node in ray.nodes():
        count = node.get("Resources", {}).get(resource, 0)
        if node.get("Alive") and count > 0:
            out.append({"node_id": node["NodeID"], "ip": node["NodeManagerAddress"], "devices": int(count)})
    return out


def check_devices(nodes: int, gpus_per_node: int, available: Optional[list[dict]] = None) -> list[dict]:
    """The nodes the profile will use; a clear error if the cluster cannot offer ``nodes`` x ``gpus_per_node``."""
    available = device_nodes() if available is None else available
    if not available:
        raise ClusterError("the Ray cluster has no node with GPUs (only a head without devices?): start workers "
                           "with `ray start --address=HEAD:6379 --num-gpus=N` (on CPU machines N logical GPUs, one "
                           "per training rank / generation replica), then resubmit")
    fitting = [n for n in available if n["devices"] >= gpus_per_node]
    if len(fitting) < nodes:
        have = ", ".join(f"{n['ip']}: {n['devices']}" for n in available)
        raise ClusterError(f"cluster.nodes={nodes} x cluster.gpus_per_node={gpus_per_node} devices asked, but the "
                           f"cluster has {len(fitting)} node(s) with >= {gpus_per_node} GPUs ({have}): lower "
                           "cluster.nodes / cluster.gpus_per_node (--set cluster.nodes=...) or add nodes")
    return fitting[:nodes]


def _pinned(node_id: str, fn: Callable, *args, env: Optional[dict] = None) -> Any:
    """Run ``fn(*args)`` as a Ray task on ``node_id`` (no resources reserved: it only coordinates)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    def call(*a):
        os.environ.update(env or {})
        return fn(*a)

    task = ray.remote(num_cpus=0, max_retries=0)(call).options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node_id, soft=False))
    return ray.get(task.remote(*args))


def _probe(path: str, token: str) -> str:
    """On a node: is the driver's probe file there, and can this node write beside it?"""
    import socket

    try:
        with open(path) as f:
            if f.read() != token:
                return f"{path} holds another run's probe"
        with open(f"{path}.{socket.gethostname()}.{os.getpid()}", "w") as f:
            f.write(token)
        os.remove(f.name)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def check_shared_dir(out: str, nodes: list[dict]) -> None:
    """Every node must see ``out`` as this process does: one stage writes there, the next reads, on any node."""
    os.makedirs(out, exist_ok=True)
    token = uuid.uuid4().hex
    path = os.path.join(out, f".cluster-probe-{token}")
    with open(path, "w") as f:
        f.write(token)
    try:
        for node in nodes:
            problem = _pinned(node["node_id"], _probe, path, token)
            if problem:
                raise ClusterError(f"out={out} is not shared with node {node['ip']} ({node['node_id'][:8]}: {problem}): put the output "
                                   "directory on storage every node mounts at the same path (OUT=/shared/...)")
    finally:
        os.remove(path)


def on_a_worker(fn: Callable, *args, node: Optional[dict] = None) -> Any:
    """``fn(*args)`` in a Ray task on a device node (the first one by default), with the job's
    address and runtime environment passed on so its subprocesses join the job as the entrypoint's would."""
    import ray

    node = node or device_nodes()[0]
    env = {k: os.environ[k] for k in JOB_ENV if k in os.environ}
    env["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address
    return _pinned(node["node_id"], fn, *args, env=env)


def current_node_has_devices(resource: str = "GPU") -> bool:
    import ray

    here = ray.get_runtime_context().get_node_id()
    return any(n["node_id"] == here for n in device_nodes(resource))
