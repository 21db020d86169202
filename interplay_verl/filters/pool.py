"""The online filter's pool: pass counts per prompt, the band state they imply, and when to look again.

Pure bookkeeping, no verl: the trainer in ``filters/online.py`` feeds it every rollout's
outcome and asks it which prompts to skip; its state travels in each RL checkpoint
(``edge_pool.json``). Settings live under ``interplay.online_filter`` of the RL config.

Two things keep it following a moving edge instead of freezing the first impression:

- *Evidence, not one group.* A prompt leaves only when the Wilson interval (``z``) of its pass
  rate lies wholly outside the band. With 4 rollouts a prompt the model solves 10% of the time
  shows an all-wrong group 66% of the time; the point estimate would drop it for good, the
  interval (z = 1) needs about 24 straight failures (a 8% chance at that rate). ``z = 0`` is
  the point estimate.
- *Verdicts expire.* A skipped prompt is tested again ``retest_every`` steps after its verdict,
  or as soon as its op's pass rate (a running mean over the op's rollouts) has moved by
  ``retest_shift`` since: its old counts are dropped, so the new verdict is about the model now.
"""

from __future__ import annotations

from typing import Any, Optional
from collections.abc import Iterable

from interplay_verl.filters.band import IN_BAND, OUT_OF_REACH, SATURATED, UNSETTLED, Band, classify, wilson_bounds

TRAINER_NAME = "interplay_edge"  # trainer.v1.trainer_mode that selects the online filter
POOL_FILE = "edge_pool.json"
ONLINE_DEFAULTS = {"enable": True, "tau_1": 0.9, "tau_k": 0.5, "k": 16, "metric": "outcome", "min_samples": None,
                   "z": 1.0, "retest_every": 20, "retest_shift": 0.15, "op_rate_decay": 0.7}


class EdgePool:
    """Per prompt index: (samples, successes) since its last verdict expired; for skipped ones, when and
    at which op pass rate they were judged."""

    def __init__(self, size: int, band: Band, min_samples: int, z: float = 0.0, retest_every: Optional[int] = None,
                 retest_shift: Optional[float] = None, op_rate_decay: float = 0.7,
                 op_of: Optional[dict[int, int]] = None):
        if min_samples < 1:
            raise ValueError(f"min_samples={min_samples}: must be >= 1")
        self.size, self.band, self.min_samples, self.z = size, band, min_samples, float(z)
        self.retest_every, self.retest_shift, self.op_rate_decay = retest_every, retest_shift, op_rate_decay
        self.op_of = dict(op_of or {})
        self.counts: dict[int, list[int]] = {}
        self.verdicts: dict[int, list] = {}  # skipped index -> [step judged, its op's rate then]
        self.op_rate: dict[int, float] = {}  # op -> running pass rate over its rollouts
        self.retested = 0

    def update(self, index: int, success: bool) -> None:
        entry = self.counts.setdefault(int(index), [0, 0])
        entry[0] += 1
        entry[1] += int(bool(success))

    def state(self, index: int) -> str:
        entry = self.counts.get(int(index))
        if entry is None or entry[0] < self.min_samples:
            return UNSETTLED
        n, c = entry
        if self.z == 0:
            return classify(n, c, self.band)
        low, high = wilson_bounds(n, c, self.z)
        if low > self.band.tau_1:
            return SATURATED
        if 1.0 - (1.0 - high) ** self.band.k < self.band.tau_k:  # even the optimistic rate misses pass@k
            return OUT_OF_REACH
        return IN_BAND

    def skip(self, index: int) -> bool:
        return self.state(index) in (SATURATED, OUT_OF_REACH)

    def end_step(self, step: int, outcomes: Iterable[tuple[int, bool]] = ()) -> None:
        """After a step: its rollouts move their ops' rates; new verdicts are recorded; old ones expire."""
        by_op: dict[int, list[int]] = {}
        for index, success in outcomes:
            op = self.op_of.get(int(index))
            if op is not None:
                tally = by_op.setdefault(op, [0, 0])
                tally[0] += 1
                tally[1] += int(bool(success))
        for op, (n, c) in by_op.items():
            old = self.op_rate.get(op)
            self.op_rate[op] = c / n if old is None else self.op_rate_decay * old + (1 - self.op_rate_decay) * c / n
        for index in list(self.verdicts):
            judged, rate = self.verdicts[index]
            op = self.op_of.get(index)
            moved = (self.retest_shift is not None and rate is not None and op in self.op_rate
                     and abs(self.op_rate[op] - rate) >= self.retest_shift)
            if moved or (self.retest_every is not None and step - judged >= self.retest_every):
                del self.verdicts[index]
                self.counts.pop(index, None)  # the new verdict is about the model now
                self.retested += 1
            elif not self.skip(index):  # samples taken anyway (a fallback batch) brought it back
                del self.verdicts[index]
        for index in self.counts:
            if index not in self.verdicts and self.skip(index):
                self.verdicts[index] = [int(step), self.op_rate.get(self.op_of.get(index))]

    def fractions(self) -> dict[str, float]:
        """Shares of the whole pool (prompts never or too rarely sampled count as unseen)."""
        tally = {SATURATED: 0, IN_BAND: 0, OUT_OF_REACH: 0}
        for index in self.counts:
            state = self.state(index)
            if state != UNSETTLED:
                tally[state] += 1
        size = max(self.size, len(self.counts), 1)
        out = {state: count / size for state, count in tally.items()}
        out["unseen"] = 1.0 - sum(out.values())
        return out

    def state_dict(self) -> dict:
        return {"size": self.size, "band": self.band.as_dict(), "min_samples": self.min_samples, "z": self.z,
                "counts": {str(k): v for k, v in sorted(self.counts.items())},
                "verdicts": {str(k): v for k, v in sorted(self.verdicts.items())},
                "op_rate": {str(k): v for k, v in sorted(self.op_rate.items())}, "retested": self.retested}

    def load_state_dict(self, state: dict) -> None:
        self.counts = {int(k): [int(v[0]), int(v[1])] for k, v in state["counts"].items()}
        self.verdicts = {int(k): [int(v[0]), v[1]] for k, v in state.get("verdicts", {}).items()}
        self.op_rate = {int(k): float(v) for k, v in state.get("op_rate", {}).items()}
        self.retested = int(state.get("retested", 0))


def online_config(config: Any) -> dict:
    """``interplay.online_filter`` of a verl config, defaults filled and checked (errors name the key)."""
    section = (config.get("interplay") or {}).get("online_filter") or {} if hasattr(config, "get") else {}
    unknown = set(section) - set(ONLINE_DEFAULTS)
    if unknown:
        raise ValueError(f"interplay.online_filter: unknown key(s) {sorted(unknown)}; known: {sorted(ONLINE_DEFAULTS)}")
    out = {**ONLINE_DEFAULTS, **dict(section)}
    try:
        out["band"] = Band(float(out["tau_1"]), float(out["tau_k"]), int(out["k"]), str(out["metric"]))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"interplay.online_filter: {exc}") from None
    if out["min_samples"] is not None and int(out["min_samples"]) < 1:
        raise ValueError(f"interplay.online_filter.min_samples={out['min_samples']}: must be >= 1 or null")
    checks = {"z": (lambda v: v is not None and float(v) >= 0, "a number >= 0 (0: the point estimate)"),
              "retest_every": (lambda v: v is None or (int(v) == v and int(v) >= 1), "a whole number of steps >= 1, or null"),
              "retest_shift": (lambda v: v is None or 0 < float(v) <= 1, "a pass-rate change in (0, 1], or null"),
              "op_rate_decay": (lambda v: v is not None and 0 <= float(v) < 1, "a number in [0, 1)")}
    for key, (ok, what) in checks.items():
        try:
            good = ok(out[key])
        except (TypeError, ValueError):
            good = False
        if not good:
            raise ValueError(f"interplay.online_filter.{key}={out[key]!r}: must be {what}")
    return out


def reward_means(infos: Iterable[dict]) -> dict[str, float]:
    """``reward/<key>/mean`` over trajectories, for every numeric key the reward function returned."""
    sums: dict[str, float] = {}
    count = 0
    for info in infos:
        count += 1
        for key, value in info.items():
            if isinstance(value, (int, float)):  # bools too
                sums[key] = sums.get(key, 0.0) + float(value)
    return {f"reward/{key}/mean": total / count for key, total in sorted(sums.items())} if count else {}
