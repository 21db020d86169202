"""The online filter's pool: pass counts per prompt, the band state they imply, and when to look again.

Pure bookkeeping, no verl: the trainer in ``filters/online.py`` feeds it every rollout's
outcome and asks it which prompts to skip; its state travels in each RL checkpoint
(``edge_pool.json``). Settings live under ``interplay.online_filter`` of the RL config.

Two things keep it following a moving edge instead of freezing the first impression:

- *Evidence, not one group.* A prompt leaves only when the Wilson interval (``z``) of its pass
  rate lies wholly outside the band. With 4 rollouts a prompt the model solves 10% of the time
  shows an all-wrong group 66% of the time; the point estimate would drop it for good, the
  interval (z = 1, k = 16, tau_k = 0.5) needs 23 straight failures (24 in groups of 4: an 8%
  chance at that rate). ``z = 0`` is the point estimate.
- *Verdicts expire, cheaply.* A skipped prompt is tested again ``retest_every`` steps after its
  verdict, or once its op's pass rate has moved by ``retest_shift`` since. A retest is one group:
  if it agrees with the verdict (all wrong for a prompt out of reach, all right for a saturated
  one) the old evidence is kept and the prompt leaves again at once; if not, the model has moved
  and the old evidence is dropped. An op's pass rate is the mean of its prompts' own rates, skipped
  ones included at their last value, so skipping easy prompts does not by itself move it.
"""

from __future__ import annotations

from typing import Any, Optional
from collections.abc import Iterable

from interplay_verl.filters.band import IN_BAND, OUT_OF_REACH, SATURATED, UNSETTLED, Band, classify, wilson_bounds

TRAINER_NAME = "interplay_edge"  # trainer.v1.trainer_mode that selects the online filter
POOL_FILE = "edge_pool.json"
ONLINE_DEFAULTS = {"enable": True, "tau_1": 0.9, "tau_k": 0.5, "k": 16, "metric": "outcome", "min_samples": None,
                   "z": 1.0, "retest_every": 20, "retest_shift": 0.15}


class EdgePool:
    """Per prompt index: (samples, successes), the evidence held while a retest runs, and for a
    skipped prompt when (step) and at which op pass rate it was judged."""

    def __init__(self, size: int, band: Band, min_samples: int, z: float = 0.0, retest_every: Optional[int] = None,
                 retest_shift: Optional[float] = None, op_of: Optional[dict[int, int]] = None):
        if min_samples < 1:
            raise ValueError(f"min_samples={min_samples}: must be >= 1")
        self.size, self.band, self.min_samples, self.z = size, band, min_samples, float(z)
        self.retest_every, self.retest_shift = retest_every, retest_shift
        self.op_of = dict(op_of or {})
        self.counts: dict[int, list[int]] = {}
        self.previous: dict[int, list] = {}  # retested index -> [n, c, the verdict it had]
        self.verdicts: dict[int, list] = {}  # skipped index -> [step judged, its op's rate then]
        self.rate: dict[int, float] = {}  # index -> its latest pass rate (an op's rate is their mean)
        self._op_sum: dict[int, float] = {}
        self._op_count: dict[int, int] = {}
        self.retested = 0

    def update(self, index: int, success: bool) -> None:
        index = int(index)
        entry = self.counts.setdefault(index, [0, 0])
        entry[0] += 1
        entry[1] += int(bool(success))
        held = self.previous.get(index)
        if held is not None and entry[0] >= self.min_samples:  # a retest group is complete
            n, c, verdict = held
            agrees = entry[1] == 0 if verdict == OUT_OF_REACH else entry[1] == entry[0]
            if agrees:
                entry[0] += n
                entry[1] += c
            del self.previous[index]
        self._set_rate(index, entry[1] / entry[0])

    def _set_rate(self, index: int, rate: float) -> None:
        op = self.op_of.get(index)
        if op is None:
            return
        old = self.rate.get(index)
        self.rate[index] = rate
        self._op_sum[op] = self._op_sum.get(op, 0.0) + rate - (old or 0.0)
        if old is None:
            self._op_count[op] = self._op_count.get(op, 0) + 1

    def op_rate(self, op: Optional[int]) -> Optional[float]:
        """The mean of the op's prompts' latest pass rates (skipped prompts at their last value)."""
        return self._op_sum[op] / self._op_count[op] if op in self._op_count else None

    def state(self, index: int) -> str:
        entry = self.counts.get(int(index))
        return UNSETTLED if entry is None else self.judge(*entry)

    def judge(self, n: int, c: int) -> str:
        """The band state of n samples with c successes, on evidence (``z``)."""
        if n < self.min_samples:
            return UNSETTLED
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

    def end_step(self, step: int) -> None:
        """After a step: verdicts that are due expire (a retest), new ones are recorded."""
        for index in list(self.verdicts):
            judged, rate = self.verdicts[index]
            now = self.op_rate(self.op_of.get(index))
            moved = self.retest_shift is not None and rate is not None and now is not None and \
                abs(now - rate) >= self.retest_shift
            if moved or (self.retest_every is not None and step - judged >= self.retest_every):
                del self.verdicts[index]
                n, c = self.counts.pop(index)
                self.previous[index] = [n, c, self.judge(n, c)]
                self.retested += 1
            elif not self.skip(index):  # samples taken anyway (a fallback batch) brought it back
                del self.verdicts[index]
        for index in self.counts:
            if index not in self.verdicts and self.skip(index):
                self.verdicts[index] = [int(step), self.op_rate(self.op_of.get(index))]

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
                "previous": {str(k): v for k, v in sorted(self.previous.items())},
                "verdicts": {str(k): v for k, v in sorted(self.verdicts.items())},
                "rate": {str(k): v for k, v in sorted(self.rate.items())}, "retested": self.retested}

    def load_state_dict(self, state: dict) -> None:
        self.counts = {int(k): [int(v[0]), int(v[1])] for k, v in state["counts"].items()}
        self.previous = {int(k): [int(v[0]), int(v[1]), v[2]] for k, v in state.get("previous", {}).items()}
        self.verdicts = {int(k): [int(v[0]), v[1]] for k, v in state.get("verdicts", {}).items()}
        self.rate, self._op_sum, self._op_count = {}, {}, {}
        for k, v in state.get("rate", {}).items():
            self._set_rate(int(k), float(v))
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
              "retest_shift": (lambda v: v is None or 0 < float(v) <= 1, "a pass-rate change in (0, 1], or null")}
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
