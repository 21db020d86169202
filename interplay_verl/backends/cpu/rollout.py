"""verl rollout backend ``cpu``: the vLLM server's role, played by transformers on the host.

Three pieces, mirroring verl's vLLM backend so the trainer cannot tell the difference:

- ``CPURolloutServer``: a Ray actor with vLLM's token-in/token-out ``generate`` contract
  and its control calls; concurrent requests are batched (``RequestBatcher``).
- ``CPURolloutReplica``: starts one server per replica next to its training workers.
- ``CPUServerAdapter``: lives in each training worker; after every step verl hands it the
  actor's full weights, which the replica's leader rank ships to its server.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Optional
from collections.abc import Generator

import ray
import torch

from verl.workers.config import HFModelConfig, RolloutConfig
from verl.workers.rollout import base as rollout_base
from verl.workers.rollout.base import BaseRollout
from verl.workers.rollout.replica import RolloutReplica, RolloutReplicaRegistry, TokenOutput
from verl.workers.rollout.utils import ensure_async_iterator

from interplay_verl.backends.cpu.generation import HFGenerator, RequestBatcher, SamplingParams
from interplay_verl.backends.cpu.platform import ROLLOUT_NAME

logger = logging.getLogger(__name__)

# Diagnostic negative control: "0" drains the weight stream but never ships it, so the rollout
# keeps the initial weights. verl's training/rollout_probs_diff_max then shows what a broken
# sync looks like (it is how the test suite proves the sync is real).
WEIGHT_SYNC_ENV = "INTERPLAY_CPU_ROLLOUT_WEIGHT_SYNC"


def server_actor_name(replica_rank: int, kind: str = "", suffix: str = "") -> str:
    """Named Ray actor of a replica's server; ``kind`` is "" (policy), "reward_" or "teacher_"."""
    return f"{ROLLOUT_NAME}_server_{kind}{replica_rank}_0{suffix}"


class CPURolloutServer:
    """One generation server per replica (a Ray actor with async methods)."""

    def __init__(self, config: RolloutConfig, model_config: HFModelConfig, replica_rank: int = 0):
        from verl.utils.config import omega_conf_to_dataclass

        self.config: RolloutConfig = omega_conf_to_dataclass(config)
        model_config = omega_conf_to_dataclass(model_config, dataclass_type=HFModelConfig)
        self.replica_rank = replica_rank
        dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(str(self.config.dtype), torch.float32)
        self.generator = HFGenerator.from_pretrained(
            model_config.local_path, dtype=dtype, trust_remote_code=model_config.trust_remote_code
        )
        self.batcher = RequestBatcher(self._run_batch, max_batch_size=max(1, int(self.config.max_num_seqs)))
        self.max_model_len = int(self.config.max_model_len or (self.config.prompt_length + self.config.response_length))
        self.global_steps: Optional[int] = None
        self.weight_updates = 0

    def _run_batch(self, requests):
        return self.generator.generate_batch(requests)

    async def generate(
        self,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        request_id: str,
        image_data: Optional[list[Any]] = None,
        video_data: Optional[list[Any]] = None,
        **kwargs: Any,
    ) -> TokenOutput:
        if image_data is not None or video_data is not None:
            raise NotImplementedError("the cpu rollout serves text-only models")
        prompt_ids = [int(t) for t in prompt_ids]
        default_max = min(
            self.config.response_length, self.config.prompt_length + self.config.response_length - len(prompt_ids)
        )
        params = SamplingParams.from_request(sampling_params, default_max, self.max_model_len - len(prompt_ids))
        completion = await self.batcher.submit((prompt_ids, params))
        return TokenOutput(
            token_ids=completion.token_ids,
            log_probs=completion.log_probs,
            stop_reason="completed",
            num_preempted=0,
            extra_fields={"global_steps": self.global_steps, "finish_reason": completion.finish_reason},
        )

    async def update_weights(self, named_tensors: dict[str, torch.Tensor], global_steps: Optional[int] = None) -> int:
        import asyncio

        n = await asyncio.to_thread(self.generator.load_weights, named_tensors)
        self.weight_updates += 1
        if global_steps is not None:
            self.global_steps = global_steps
        return n

    async def stats(self) -> dict[str, Any]:
        return {
            "generate_calls": self.generator.generate_calls,
            "batch_sizes": list(self.batcher.batch_sizes),
            "weight_updates": self.weight_updates,
            "global_steps": self.global_steps,
        }

    async def set_global_steps(self, global_steps: int):
        self.global_steps = global_steps

    # Control calls verl makes on every backend. Weights stay resident on the host, there
    # is no KV cache between requests, and requests finish in one batch, so all are no-ops.
    async def wake_up(self, tags: Optional[list[str]] = None): ...

    async def sleep(self): ...

    async def clear_kv_cache(self): ...

    async def release_kv_cache(self): ...

    async def resume_kv_cache(self): ...

    async def start_profile(self, **kwargs): ...

    async def stop_profile(self): ...

    async def wait_for_requests_to_drain(self): ...

    async def resume_generation(self): ...

    async def abort_all_requests(self, reset_prefix_cache: bool = True, reject_request: bool = False):
        return {"aborted_count": 0, "request_ids": []}

    async def abort_request(self, request_id: str, reset_prefix_cache: bool = True):
        return {"aborted": False, "request_id": request_id}


class CPURolloutReplica(RolloutReplica):
    async def launch_servers(self):
        assert len(self.workers) == self.world_size, f"{len(self.workers)} workers for world size {self.world_size}"
        node_id = await self.workers[0].__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id())
        kind = "reward_" if self.is_reward_model else "teacher_" if self.is_teacher_model else ""
        name = server_actor_name(self.replica_rank, kind, self.name_suffix)
        server = (
            ray.remote(CPURolloutServer)
            .options(
                name=name,
                num_cpus=0,
                max_concurrency=self.max_concurrency,
                scheduling_strategy=ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
                    node_id=node_id, soft=False
                ),
            )
            .remote(config=self.config, model_config=self.model_config, replica_rank=self.replica_rank)
        )
        await server.stats.remote()  # surfaces model-loading errors here, not at first request
        self.servers = [server]
        self._server_handle = server
        self._server_address = f"{ROLLOUT_NAME}-rollout-{name}"

    def rollout_worker_use_gpu(self) -> bool:
        return False


class CPUServerAdapter(BaseRollout):
    """Per training worker. Every rank drains the weight stream (FSDP gathers are collectives);
    only the replica's leader rank sends the tensors to the server."""

    def __init__(self, config: RolloutConfig, model_config: HFModelConfig, device_mesh, replica_rank: int = -1):
        super().__init__(config, model_config, device_mesh)
        rank = int(os.environ.get("RANK", "0"))
        rollout_world_size = (
            self.config.tensor_model_parallel_size
            * self.config.data_parallel_size
            * self.config.pipeline_model_parallel_size
        )
        self.replica_rank = rank // rollout_world_size if replica_rank == -1 else replica_rank
        self.is_leader = rank % rollout_world_size == 0
        self._server = None

    def _server_handle(self):
        if self._server is None:
            self._server = ray.get_actor(server_actor_name(self.replica_rank))
        return self._server

    async def resume(self, tags: list[str]):
        return None

    async def release(self):
        return None

    @torch.no_grad()
    async def update_weights(
        self,
        weights: Generator[tuple[str, torch.Tensor], None, None],
        wire_format: str = "named_tensors",
        global_steps: Optional[int] = None,
        **kwargs,
    ):
        if wire_format != "named_tensors":
            raise NotImplementedError(f"cpu rollout takes wire_format='named_tensors', got {wire_format!r}")
        start = time.time()
        collected: dict[str, torch.Tensor] = {}
        async for name, tensor in ensure_async_iterator(weights):
            if self.is_leader:
                if hasattr(tensor, "full_tensor"):
                    tensor = tensor.full_tensor()
                collected[name] = tensor.detach().to("cpu", copy=True)
        if self.is_leader and os.environ.get(WEIGHT_SYNC_ENV, "1") == "0":
            logger.warning("%s=0: rollout weights NOT synced (diagnostic mode)", WEIGHT_SYNC_ENV)
            await self._server_handle().set_global_steps.remote(global_steps)
        elif self.is_leader:
            await self._server_handle().update_weights.remote(collected, global_steps)
            logger.info("cpu rollout: %d tensors synced in %.2fs", len(collected), time.time() - start)


def _load_replica():
    return CPURolloutReplica


def register_rollout() -> None:
    """Make ``actor_rollout_ref.rollout.name=cpu`` resolvable in this process."""
    RolloutReplicaRegistry.register(ROLLOUT_NAME, _load_replica)
    # verl has no public register function for in-worker adapters; this dict is its registry.
    rollout_base._ROLLOUT_REGISTRY[(ROLLOUT_NAME, "async")] = f"{__name__}.CPUServerAdapter"
