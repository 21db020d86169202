"""The paper's path on a Ray cluster, simulated on one machine.

A head with no accelerator resources (and no CPUs: nothing may be scheduled there) and two
worker nodes, separate raylets joined with ``ray start --address``, each advertising one
logical GPU and its own temp dir (node-local runtime environments, as on real machines).
Worker b runs in its own mount namespace with a private tmpfs over one folder: a path the
other nodes can write that b cannot see, the "output directory not on shared storage" case.

The cluster is shared by the module's tests (they run one at a time, like every Ray test).
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RAY = os.path.join(os.path.dirname(sys.executable), "ray")

pytestmark = pytest.mark.slow

# The paper profile with only sizes reduced (model, tokens, steps, candidates, samples) and the
# CPU device; tau_k=0 because a model this small solves nothing, so a band asking pass@k > 0
# would keep no RL problem (the smoke profile does the same).
PAPER_SMALL = [
    "device=cpu", "model.size=0.2m", "cluster.nodes=2", "cluster.gpus_per_node=1", "data.workers=1",
    "data.block_size=256", "pretrain.tokens=60000", "data.contexts=zoo", "filter.contexts=zoo", "evaluate.contexts=[zoo]",
    "pretrain.overrides=[trainer.total_training_steps=4,trainer.save_freq=2,data.train_batch_size=2,"
    "data.micro_batch_size_per_gpu=1,data.num_workers=0]",
    "midtrain.tokens=30000",
    "midtrain.overrides=[trainer.total_training_steps=2,trainer.save_freq=2,data.train_batch_size=2,"
    "data.micro_batch_size_per_gpu=1,data.num_workers=0]",
    "filter.candidates_per_op=2", "filter.n_max=4", "filter.k=4", "filter.give_up_after=4", "filter.round_size=4",
    "filter.max_new_tokens=24", "filter.tau_k=0.0",
    "rl.overrides=[trainer.total_training_steps=2,trainer.save_freq=1,data.train_batch_size=2,"
    "actor_rollout_ref.actor.ppo_mini_batch_size=2,actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1,"
    "actor_rollout_ref.rollout.n=2,actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2,"
    "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=2,data.max_prompt_length=512,data.max_response_length=24]",
    "evaluate.per_op=1", "evaluate.n_samples=2", "evaluate.max_new_tokens=16",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sets(sets):
    return [a for s in sets for a in ("--set", s)]


def test_a_head_only_cluster_is_refused():
    """A Ray head and nothing else; in its own process (a Ray session's auth token stays with its process)."""
    code = ("import ray\nfrom interplay_verl.cluster import ClusterError, check_devices\n"
            "ray.init(num_cpus=1, num_gpus=0, include_dashboard=False)\n"
            "try:\n    check_devices(1, 1)\nexcept ClusterError as exc:\n    print('REFUSED', exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"})
    assert "REFUSED the Ray cluster has no node with GPUs (only a head without devices?): start workers with " \
           "`ray start --address=HEAD:6379 --num-gpus=N`" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.fixture(scope="module")
def cluster():
    if subprocess.run(["unshare", "-m", "--propagation", "private", "true"]).returncode != 0:
        pytest.fail("the simulated cluster needs mount namespaces (`unshare -m`, root in the container)")
    base = tempfile.mkdtemp(prefix="ivc", dir="/tmp")  # Ray's socket paths must stay short
    private = os.path.join(base, "private")  # worker b sees an empty tmpfs here
    os.makedirs(private)
    port, dashboard = _free_port(), _free_port()
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16), RAY_USAGE_STATS_ENABLED="0")
    env.pop("VERL_PLATFORM", None)  # the nodes know nothing of CPU runs: the job's environment carries it
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=32", "--num-gpus=1"]
    commands = [
        [RAY, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=0", "--num-gpus=0",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
         f"--temp-dir={base}/h"],
        [RAY, "start", f"--address=127.0.0.1:{port}", *common, f"--temp-dir={base}/a"],
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         f"mount -t tmpfs none {private} && {RAY} start --address=127.0.0.1:{port} {' '.join(common)} "
         f"--temp-dir={base}/b"],
    ]
    for i, cmd in enumerate(commands):
        with open(os.path.join(base, f"start{i}.log"), "w") as log:
            assert subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=300).returncode == 0, \
                open(log.name).read()[-2000:]
    info = {"base": base, "private": private, "gcs": f"127.0.0.1:{port}", "dashboard": f"http://127.0.0.1:{dashboard}",
            "env": env}
    try:
        deadline = time.time() + 120
        while len(_nodes(info)) < 3:
            assert time.time() < deadline, "the worker nodes did not join"
            time.sleep(1)
        yield info
    finally:
        _stop(base)
        subprocess.run(["umount", private], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _stop(base: str) -> None:
    """End the cluster's processes (ours: every Ray process of this run has ``base`` in its command line)."""
    import psutil

    procs = []
    for proc in psutil.process_iter(["cmdline"]):
        if base in " ".join(proc.info["cmdline"] or []):
            procs.append(proc)
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=30)


STATE = """
import json, sys
from ray.util.state import list_actors, list_nodes, list_tasks
a = sys.argv[1]
print(json.dumps({
    "nodes": {n.node_id: n.is_head_node for n in list_nodes(address=a) if n.state == "ALIVE"},
    "actors": [[x.class_name, x.node_id] for x in list_actors(address=a, limit=10000, detail=True)],
    "tasks": [[x.name, x.node_id] for x in list_tasks(address=a, limit=10000, detail=True) if x.type == "NORMAL_TASK"],
}))
"""


def _state(cluster) -> dict:
    """Ray's state API, from a process of its own (Ray caches a process's auth settings on first use)."""
    proc = subprocess.run([sys.executable, "-c", STATE, cluster["dashboard"]], env=cluster["env"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _nodes(cluster) -> dict:
    """Alive node id -> whether it is the head."""
    return _state(cluster)["nodes"]


def _pipeline(cluster, sets, out):
    """``interplay-verl pipeline`` as a driver of the cluster (what a job's entrypoint runs)."""
    env = dict(cluster["env"], RAY_ADDRESS=cluster["gcs"])
    return subprocess.run([sys.executable, "-m", "interplay_verl.cli", "pipeline", "--config",
                           os.path.join(ROOT, "recipes", "profiles", "paper.yaml"), "--out", out, "--quiet",
                           *_sets(sets)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)


def _submit(cluster, out, args=(), **env):
    env = dict(cluster["env"], RAY_ADDRESS=cluster["dashboard"], OUT=out, PYTHON=sys.executable, RAY=RAY,
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""), **env)
    return subprocess.run(["bash", os.path.join(ROOT, "recipes", "submit_ray.sh"), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=2400)


def test_a_cluster_that_cannot_hold_the_profile_fails_before_any_stage(cluster, tmp_path):
    too_many = _pipeline(cluster, [*PAPER_SMALL, "cluster.gpus_per_node=2"], str(tmp_path / "a"))
    assert too_many.returncode == 2, too_many.stderr[-2000:]
    assert re.search(r"cluster.nodes=2 x cluster.gpus_per_node=2 devices asked, but the cluster has 0 node\(s\) with "
                     r">= 2 GPUs \([\d.]+: 1, [\d.]+: 1\)", too_many.stderr), too_many.stderr[-2000:]
    unseen = os.path.join(cluster["private"], "out")
    hidden = _pipeline(cluster, PAPER_SMALL, unseen)
    assert hidden.returncode == 2, hidden.stderr[-2000:]
    assert re.search(rf"out={unseen} is not shared with node [\d.]+ \(\w+: FileNotFoundError", hidden.stderr)
    assert "put the output directory on storage every node mounts" in hidden.stderr
    assert not (tmp_path / "a").exists() and os.listdir(unseen) == []  # no stage started, the probe is gone


def test_the_paper_profile_runs_on_both_workers_and_nothing_on_the_head(cluster, tmp_path):
    """recipes/submit_ray.sh with the paper profile: pre-training through verl's sft_trainer_ray across
    both workers, filter and evaluation through standalone replicas on both, RL over 2 nodes."""
    out = tmp_path / "paper"
    result = _submit(cluster, str(out), ["--quiet", *_sets(PAPER_SMALL)], PROFILE="paper")
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-5000:]
    assert re.search(r"this node has no devices: running on [\d.]+ \(node \w+\)", log)
    assert (out / "report" / "comparison.md").exists()
    for stage in ("pretrain", "midtrain"):
        manifest = json.loads((out / stage / "manifest.json").read_text())
        assert manifest["config"]["launcher"] == "ray" and manifest["result"]["steps"] > 0
    filtered = json.loads((out / "filter" / "report.json").read_text())["samples_per_replica"]
    evaluated = json.loads((out / "eval_base" / "report.json").read_text())["samples_per_replica"]
    assert len(filtered) == len(evaluated) == 2 and min(filtered) > 0 and min(evaluated) > 0  # both replicas served

    state = _state(cluster)
    head = {n for n, is_head in state["nodes"].items() if is_head}
    workers = set(state["nodes"]) - head
    placed = {}
    for name, node in state["actors"] + state["tasks"]:
        if name != "JobSupervisor" and node:  # Ray's own job process lives on the head
            placed.setdefault(name.rsplit(".", 1)[-1], set()).add(node)
    on_head = {name for name, where in placed.items() if where & head}
    assert not on_head, on_head
    for name in ("TrainingWorker", "CPURolloutServer", "WorkerDict"):  # SFT ranks, replicas, RL workers
        assert placed.get(name) == workers, (name, placed.get(name))


def test_ray_pip_puts_the_package_its_plugin_and_the_compiled_verifier_on_the_workers(cluster, tmp_path):
    import ray

    result = _submit(cluster, str(tmp_path / "pip"), PROFILE="tiny", RAY_PIP="1",  # a CPU profile: the CPU torch
                     ENTRYPOINT=f"{sys.executable} -m interplay_verl.cli doctor --on-workers --json")
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]
    reports = [json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"node"')]
    assert {r["node"] for r in reports} == {n for n, is_head in _nodes(cluster).items() if not is_head}
    for r in reports:
        assert r["plugin loaded"] and r["cpu backend active"], r
        assert r["compiled verifier"].startswith("yes"), r
        assert r["interplay-verl installed"].startswith("wheel file://" + str(tmp_path / "pip" / ".dist")), r
        assert r["ray"] == ray.__version__  # pinned to the cluster's
