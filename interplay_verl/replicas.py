"""Sampling a checkpoint through verl's rollout replicas, started standalone on the cluster.

Everything that samples a model outside the RL trainer (the offline filter, evaluation) goes
through the same servers the trainer's rollout uses: verl's ``RolloutReplica`` classes in
standalone mode, vLLM on GPU nodes and this package's ``cpu`` replica on CPU. Each replica
gets its own Ray placement group (``tensor_parallel`` devices), so a stage spreads over every
worker node of the cluster and the process that asks for samples only coordinates.

Why not one in-process engine: at the paper's scale (tens of thousands of prompts x up to
128 samples of 1,024 tokens) one engine on one device is weeks, and several engines built
one after another in one process hold the GPU until garbage collection frees it. Replicas
live in their own processes and ``close()`` ends them (placement groups removed).

A prompt's n samples are n requests, each with its own seed (``sampling.request_seed`` of
the call seed and the prompt's index, plus the sample's index), so they are independent
draws, the same run seed gives the same samples, and a sample does not depend on which
replica served it or what it was batched with.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Optional

from interplay_verl.cluster import on_cluster
from interplay_verl.devices import CPU_ENV, Device, compose_verl_config, verl_overrides
from interplay_verl.rewards.decoding import completion_text
from interplay_verl.tokenizer import load_tokenizer
from interplay_verl.sampling import _counts, _regroup, register_backend, request_seed

logger = logging.getLogger(__name__)

ROLLOUT = {"cpu": "cpu", "gpu": "vllm"}  # the verl rollout backend of each device


def request_params(seed: int, prompt_index: int, sample: int, *, max_new_tokens: int, temperature: float,
                   top_p: float) -> dict:
    """The sampling-params dict one sample's request sends to a replica server (vLLM's keys)."""
    return {"temperature": float(temperature), "top_p": float(top_p), "top_k": -1, "max_tokens": int(max_new_tokens),
            "logprobs": False, "seed": request_seed(seed, prompt_index) + sample}


def rollout_config(model_dir: str, device: Device, n_replicas: int, *, gpus_per_node: Optional[int] = None,
                   tensor_parallel: int = 1, max_model_len: int = 2048, max_num_seqs: int = 256, seed: int = 0):
    """verl's rollout and model configs for standalone replicas, composed from its PPO config.

    Composed (not hand-built) so every default a trainer rollout has, a standalone one has too."""
    gpus_per_node = gpus_per_node or n_replicas * tensor_parallel
    overrides = [o for o in verl_overrides(device, "ppo", gpus_per_node) if not o.startswith("+ray_kwargs")
                 and not o.startswith("ray_kwargs")] + [
        f"actor_rollout_ref.model.path={model_dir}",
        f"actor_rollout_ref.rollout.tensor_model_parallel_size={tensor_parallel}",
        f"actor_rollout_ref.rollout.n_gpus_per_node={gpus_per_node}",
        f"actor_rollout_ref.rollout.nnodes={max(1, n_replicas * tensor_parallel // gpus_per_node)}",
        f"actor_rollout_ref.rollout.max_model_len={max_model_len}",
        f"actor_rollout_ref.rollout.max_num_seqs={max_num_seqs}",
        f"actor_rollout_ref.rollout.seed={seed}",
        "actor_rollout_ref.rollout.load_format=auto",  # standalone servers read the checkpoint themselves
        "actor_rollout_ref.rollout.free_cache_engine=False",
    ]
    cfg = compose_verl_config(overrides, "ppo_trainer")
    return cfg.actor_rollout_ref.rollout, cfg.actor_rollout_ref.model


class ReplicaSampler:
    """``n_replicas`` standalone verl rollout replicas of one checkpoint; a ``sampling.Sampler``.

    Use as a context manager (or call ``close()``): the replicas hold devices until closed.
    ``served[i]`` counts the samples replica i generated.
    """

    def __init__(self, model_dir: str, batch_size: int = 64, *, device: Optional[Device] = None,
                 n_replicas: int = 1, gpus_per_node: Optional[int] = None, tensor_parallel: int = 1,
                 max_model_len: Optional[int] = None, seed: int = 0):
        from interplay_verl.devices import gpu_count

        self.model_dir, self.batch_size = model_dir, batch_size
        self.device: Device = device or ("gpu" if gpu_count() > 0 else "cpu")
        self.n_replicas, self.tensor_parallel = n_replicas, tensor_parallel
        self.gpus_per_node = gpus_per_node or n_replicas * tensor_parallel
        self.max_model_len, self.seed = max_model_len or _context_length(model_dir), seed
        self.replicas: list = []
        self.served = [0] * n_replicas
        self._started_ray = False
        self._tokenizer = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> ReplicaSampler:
        if self.replicas:
            return self
        import ray

        from verl.workers.rollout.replica import get_rollout_replica_class

        if self.device == "cpu":
            os.environ.update(CPU_ENV)
            from interplay_verl.backends.cpu import activate

            activate()  # the cpu replica class, registered even if verl was imported before VERL_PLATFORM was set
        if not ray.is_initialized():
            self._started_ray = True
            if on_cluster():  # inside a Ray job: join its cluster
                ray.init(runtime_env={"env_vars": self._worker_env()})
            else:  # a local cluster; on CPU, one logical GPU per replica device, as verl's pools count GPUs
                local = {"num_gpus": self.n_replicas * self.tensor_parallel} if self.device == "cpu" else {}
                ray.init(include_dashboard=False, num_cpus=max(4, 2 * self.n_replicas), **local,
                         runtime_env={"env_vars": self._worker_env()})
        rollout, model = rollout_config(self.model_dir, self.device, self.n_replicas,
                                        gpus_per_node=self.gpus_per_node, tensor_parallel=self.tensor_parallel,
                                        max_model_len=self.max_model_len, seed=self.seed)
        self._tokenizer = load_tokenizer(self.model_dir)
        replica_class = get_rollout_replica_class(ROLLOUT[self.device])
        self.replicas = [replica_class(replica_rank=rank, config=rollout, model_config=model,
                                       gpus_per_node=self.gpus_per_node) for rank in range(self.n_replicas)]
        try:
            asyncio.run(self._gather([r.init_standalone() for r in self.replicas]))
        except BaseException:
            self.close()
            raise
        logger.info("%d %s replica(s) of %s up: %s", len(self.replicas), ROLLOUT[self.device], self.model_dir,
                    [r._server_address for r in self.replicas])
        return self

    def _worker_env(self) -> dict:
        env = {"TOKENIZERS_PARALLELISM": "false"}
        if self.device == "cpu":
            env.update(CPU_ENV)
        return env

    @staticmethod
    async def _gather(coroutines):
        return await asyncio.gather(*coroutines)

    def close(self) -> None:
        """End the servers and workers and free their placement groups (and Ray, if started here)."""
        import ray

        if not ray.is_initialized():
            self.replicas = []
            return
        for replica in self.replicas:
            for actor in [*replica.servers, *replica.workers]:
                try:
                    ray.kill(actor)
                except Exception:  # already gone
                    pass
        groups = [pg for r in self.replicas for pg in (getattr(r.resource_pool, "pgs", None) or [])]
        for pg in groups:
            ray.util.remove_placement_group(pg)
        deadline = time.time() + 60  # removal is asynchronous: the next stage may want these devices
        while time.time() < deadline and any(ray.util.placement_group_table(pg).get("state") != "REMOVED"
                                             for pg in groups):
            time.sleep(0.2)
        self.replicas = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    def __enter__(self) -> ReplicaSampler:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ sampling
    def sample(self, prompts, n=1, *, max_new_tokens=256, temperature=0.0, top_p=1.0, seed=0, quiet=False):
        self.start()
        counts = _counts(prompts, n)
        encoded = self._tokenizer(list(prompts), add_special_tokens=False)["input_ids"]
        requests = [(i, j) for i, c in enumerate(counts) for j in range(c)]
        params = {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p}
        texts = asyncio.run(self._generate(encoded, requests, seed, params, quiet))
        return _regroup(texts, counts)

    async def _generate(self, encoded, requests, seed, params, quiet) -> list[str]:
        from tqdm import tqdm

        servers = [r.server_handle for r in self.replicas]
        in_flight = [0] * len(servers)
        # enough requests in flight to fill every server's batches, few enough for Ray's queues
        window = asyncio.Semaphore(max(1, self.batch_size) * len(servers))
        progress = tqdm(total=len(requests), unit="sample", desc="generate", disable=quiet)

        async def one(prompt_index: int, sample: int) -> str:
            async with window:
                r = min(range(len(servers)), key=lambda s: in_flight[s])  # least loaded
                in_flight[r] += 1
                try:
                    out = await servers[r].generate.remote(
                        prompt_ids=encoded[prompt_index],
                        sampling_params=request_params(seed, prompt_index, sample, **params),
                        request_id=f"s{seed}-p{prompt_index}-n{sample}")
                finally:
                    in_flight[r] -= 1
                self.served[r] += 1
                progress.update(1)
                return completion_text(self._tokenizer, out.token_ids)

        try:
            return list(await asyncio.gather(*[one(i, j) for i, j in requests]))
        finally:
            progress.close()
            logger.info("samples served per replica: %s", self.served)


def _context_length(model_dir: str) -> int:
    """The model's own context (its position embeddings): the longest prompt + completion it serves."""
    import json

    with open(os.path.join(model_dir, "config.json")) as f:
        return int(json.load(f).get("max_position_embeddings") or 2048)


@register_backend("replicas")
def _replica_backend(model_dir: str, batch_size: int = 64, **cluster) -> ReplicaSampler:
    return ReplicaSampler(model_dir, batch_size, **cluster)
