"""The online filter's pool: a running pass count per prompt, and the band state it implies.

Pure bookkeeping, no verl: the trainer in ``filters/online.py`` feeds it every rollout's
outcome and asks it which prompts to skip; its state travels in each RL checkpoint
(``edge_pool.json``). Settings live under ``interplay.online_filter`` of the RL config.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Iterable

from interplay_verl.filters.band import IN_BAND, OUT_OF_REACH, SATURATED, UNSETTLED, Band, classify

TRAINER_NAME = "interplay_edge"  # trainer.v1.trainer_mode that selects the online filter
POOL_FILE = "edge_pool.json"
ONLINE_DEFAULTS = {"enable": True, "tau_1": 0.9, "tau_k": 0.5, "k": 16, "metric": "outcome", "min_samples": None}


class EdgePool:
    """Running (samples, successes) per prompt index, and the band state they imply."""

    def __init__(self, size: int, band: Band, min_samples: int):
        if min_samples < 1:
            raise ValueError(f"min_samples={min_samples}: must be >= 1")
        self.size, self.band, self.min_samples = size, band, min_samples
        self.counts: dict[int, list[int]] = {}

    def update(self, index: int, success: bool) -> None:
        entry = self.counts.setdefault(int(index), [0, 0])
        entry[0] += 1
        entry[1] += int(bool(success))

    def state(self, index: int) -> str:
        entry = self.counts.get(int(index))
        if entry is None or entry[0] < self.min_samples:
            return UNSETTLED
        return classify(entry[0], entry[1], self.band)

    def skip(self, index: int) -> bool:
        return self.state(index) in (SATURATED, OUT_OF_REACH)

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
        return {"size": self.size, "band": self.band.as_dict(), "min_samples": self.min_samples,
                "counts": {str(k): v for k, v in sorted(self.counts.items())}}

    def load_state_dict(self, state: dict) -> None:
        self.counts = {int(k): [int(v[0]), int(v[1])] for k, v in state["counts"].items()}


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
