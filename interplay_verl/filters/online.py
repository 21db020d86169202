"""The online edge-of-competence filter: verl's sync V1 trainer that stops re-sampling dead prompts.

While RL runs, prompts drift out of the band (docs/method.md#8-the-edge-of-competence): the model masters some
(saturated) and gives up on none it could not solve from the start (out of reach). Both
give GRPO groups with equal rewards, zero advantage and wasted rollouts. ``EdgePool`` keeps a
running pass count per prompt from every rollout; the trainer skips prompts whose counts put
them outside the band *before* they are generated, and takes the next prompts of the
dataloader instead, so every step still trains on a full batch (when fewer prompts than a
batch remain in the band, a batch may hold one prompt twice). It composes with verl's
``algorithm.filter_groups`` (DAPO), which drops the equal-reward groups that slip through.

Selected with ``trainer.v1.trainer_mode=interplay_edge``; everything else is verl's ``sync``
trainer. Importing this module imports verl's V1 trainer and registers the class with verl's
``register_trainer``; the plugin (``interplay_verl/plugin.py``) imports it only once verl has
imported its V1 package itself, so the 30-45 processes of a run do not all pay for it. The
pool's bookkeeping is ``filters/pool.py``. Configured by

    +interplay.online_filter.enable=true        # false: track and log, never skip
    +interplay.online_filter.tau_1=0.9          # skip once the running pass rate exceeds this
    +interplay.online_filter.tau_k=0.5          # ... or the estimated pass@k falls below this
    +interplay.online_filter.k=16
    +interplay.online_filter.metric=outcome     # or verified
    +interplay.online_filter.min_samples=null   # samples before a prompt can leave (null: rollout.n)
    +interplay.online_filter.z=1.0              # leave only when the Wilson interval is out (0: point estimate)
    +interplay.online_filter.retest_every=20    # steps after which a skipped prompt is tried again (null: never)
    +interplay.online_filter.retest_shift=0.15  # ... or sooner, once its op's pass rate moved this much (null: never)

It also logs, every training step and through verl's own logger, the mean of every reward
component the reward function returns (``reward/<key>/mean``: score, outcome, process,
verified, each error count; verl itself logs them only at validation) and the pool's shares
(``edge/saturated``, ``edge/in_band``, ``edge/out_of_reach``, ``edge/unseen``) and how many
verdicts expired so far (``edge/retested_total``).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Optional

import transfer_queue as tq
from verl.trainer.ppo.v1.trainer_base import register_trainer
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
from verl.utils import tensordict_utils as tu
from verl.utils.profiler.performance import simple_timer

from interplay_verl.filters.pool import POOL_FILE, TRAINER_NAME, EdgePool, online_config, reward_means

logger = logging.getLogger(__name__)


def _plain(value: Any) -> Any:
    value = getattr(value, "data", value)
    if hasattr(value, "tolist"):
        value = value.tolist()
    return value


def _ops_by_index(train_files) -> dict[int, int]:
    """extra_info.index -> extra_info.op of the training rows, reading only those two leaves (not
    the rows' graphs); rows without an op have no op rate."""
    import pyarrow.parquet as pq

    files = [train_files] if isinstance(train_files, str) else list(train_files)
    out: dict[int, int] = {}
    for path in files:
        fields = pq.ParquetFile(path).schema_arrow.field("extra_info").type
        if "op" not in [f.name for f in fields] or "index" not in [f.name for f in fields]:
            continue
        for row in pq.read_table(path, columns=["extra_info.index", "extra_info.op"]).to_pylist():
            if row["index"] is not None and row["op"] is not None:
                out[int(row["index"])] = int(row["op"])
    return out


@register_trainer(TRAINER_NAME)
class EdgeOfCompetenceTrainer(PPOTrainerSync):
    """verl's sync trainer, with the pool consulted before generation and updated after each step."""

    # verl picks replay buffer, refill and checkpoint behaviour by the mode's name: behave as "sync".
    trainer_mode = property(lambda self: "sync", lambda self, value: None)

    def __init__(self, config):
        self.edge = online_config(config)  # a bad key fails here, before any worker starts
        super().__init__(config)
        self.edge_pool: Optional[EdgePool] = None
        self._edge_leftover = None
        self._edge_skipped = 0
        self._edge_skipped_total = 0
        self._edge_fallbacks = 0

    def _edge_learn(self, keys: list, partition_id: str) -> list[dict]:
        """Count the trajectories ``keys`` in the pool; returns their reward infos."""
        if not keys:
            return []
        data = tq.kv_batch_get(keys=keys, partition_id=partition_id, select_fields=["extra_fields", "index"])
        infos = [(_plain(extra) or {}).get("reward_extra_info", {}) for extra in data["extra_fields"]]
        metric = self.edge["band"].metric
        for index, info in zip(_plain(data["index"]), infos):
            if metric in info:
                self.edge_pool.update(int(index), float(info[metric]) == 1.0)
        return infos

    def _build_replay_buffer(self):
        buffer = super()._build_replay_buffer()
        # verl's buffer re-checks for finished rollouts every 2 s; a CPU step is a few seconds
        poll = (self.config.get("interplay") or {}).get("poll_interval")
        if poll is not None:
            buffer.poll_interval = float(poll)
        if buffer.filter_groups_metric is not None:
            # verl's DAPO filter evicts equal-reward groups before they reach a step: learn from
            # them first, or the pool would never see the prompts that most need skipping
            clear = buffer._clear_groups

            def learn_then_clear(partition_id, uids):
                if partition_id == "train" and uids:
                    self._edge_learn([k for k in buffer.partitions[partition_id] if k.split("_")[0] in uids],
                                     partition_id)
                clear(partition_id, uids)

            buffer._clear_groups = learn_then_clear
        return buffer

    def _init_dataloader(self):
        super()._init_dataloader()
        min_samples = self.edge["min_samples"] or int(self.config.actor_rollout_ref.rollout.n)
        self.edge_pool = EdgePool(len(self.train_dataset), self.edge["band"], int(min_samples), z=self.edge["z"],
                                  retest_every=self.edge["retest_every"], retest_shift=self.edge["retest_shift"],
                                  op_of=_ops_by_index(self.config.data.train_files))

    def _fetch_one_gen_batch(self):
        if not self.edge["enable"]:
            return super()._fetch_one_gen_batch()
        with simple_timer("edge", self.timing_raw):  # logged as timing_s/edge
            return self._fetch_in_band()

    def _fetch_in_band(self):
        want = self.config.data.get("gen_batch_size", None) or self.config.data.train_batch_size
        parts = [self._edge_leftover] if self._edge_leftover is not None else []
        have, fetched = (len(parts[0]) if parts else 0), 0
        while have < want:
            batch = super()._fetch_one_gen_batch()
            fetched += len(batch)
            if fetched > self.edge_pool.size + want:  # a whole pass found too few: train on what there is
                self._edge_fallbacks += 1
                keep = list(range(len(batch)))
            else:
                keep = [i for i, index in enumerate(_plain(batch["index"])) if not self.edge_pool.skip(index)]
            self._edge_skipped += len(batch) - len(keep)
            if keep:
                parts.append(batch if len(keep) == len(batch) else tu.index_select_tensor_dict(batch, keep))
                have += len(keep)
        merged = parts[0] if len(parts) == 1 else tu.concat_tensordict(parts)
        self._edge_leftover = (tu.index_select_tensor_dict(merged, list(range(want, len(merged))))
                               if len(merged) > want else None)
        return merged if len(merged) == want else tu.index_select_tensor_dict(merged, list(range(want)))

    def step(self, metrics, timing_raw):
        # the pool learns from the step's rollouts here, before verl checkpoints the step
        batch = super().step(metrics, timing_raw)
        keep = [i for i, tag in enumerate(batch.tags) if not tag.get("is_padding", False)]
        with simple_timer("edge", timing_raw):
            infos = self._edge_learn([batch.keys[i] for i in keep], batch.partition_id)
        metrics.update(reward_means(infos))
        self.edge_pool.end_step(self.global_steps)
        metrics.update({f"edge/{state}": share for state, share in self.edge_pool.fractions().items()})
        metrics["edge/retested_total"] = self.edge_pool.retested
        self._edge_skipped_total += self._edge_skipped
        metrics.update({"edge/skipped_prompts": self._edge_skipped, "edge/skipped_prompts_total":
                        self._edge_skipped_total, "edge/fallbacks": self._edge_fallbacks})
        self._edge_skipped = 0
        return batch

    def _save_checkpoint(self):
        # the pool goes in first: a checkpoint verl marks as latest always has its pool
        from interplay_verl.atomic import atomic_write_text

        folder = os.path.join(self.config.trainer.default_local_dir, f"global_step_{self.global_steps}")
        os.makedirs(folder, exist_ok=True)
        state = {**self.edge_pool.state_dict(), "skipped_total": self._edge_skipped_total}
        atomic_write_text(os.path.join(folder, POOL_FILE), json.dumps(state) + "\n")
        super()._save_checkpoint()

    def _load_checkpoint(self):
        super()._load_checkpoint()
        if self.global_steps <= 0:
            return
        path = os.path.join(self.config.trainer.default_local_dir, f"global_step_{self.global_steps}", POOL_FILE)
        if not os.path.isabs(path):
            path = os.path.join(os.getcwd(), path)
        if os.path.exists(path):
            with open(path) as f:
                state = json.load(f)
            self.edge_pool.load_state_dict(state)
            self._edge_skipped_total = int(state.get("skipped_total", 0))
            logger.info("interplay_edge: pool restored from %s (%d prompts seen)", path, len(self.edge_pool.counts))
        else:
            logger.warning("interplay_edge: no %s; the online filter starts with an empty pool", path)
