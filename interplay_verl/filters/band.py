"""The edge-of-competence band (docs/method.md#8-the-edge-of-competence): pass@1 <= tau_1 and pass@k >= tau_k.

Problems outside it carry no GRPO signal (a group whose rewards are all equal has zero
advantage), so both filters spend rollouts only on problems inside it. The offline filter
and the online filter share this one definition; they differ only in how many samples they
have (up to n = 128 offline, a few GRPO groups online), which is why ``estimate_pass_at_k``
falls back to the plug-in estimate when n < k.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from interplay_verl.metrics import pass_at_k

SATURATED, IN_BAND, OUT_OF_REACH, UNSETTLED = "saturated", "in_band", "out_of_reach", "unsettled"
STATES = (SATURATED, IN_BAND, OUT_OF_REACH)
METRICS = ("outcome", "verified")


@dataclass(frozen=True)
class Band:
    """tau_1: the most a problem may be solved per sample; tau_k: the least pass@k it must reach."""

    tau_1: float = 0.5
    tau_k: float = 0.5
    k: int = 128
    metric: str = "outcome"  # what counts as solved: outcome (R_out = 1) or verified (VerifiedCorrect)

    def __post_init__(self):
        for name in ("tau_1", "tau_k"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name}={value!r}: must be a number in [0, 1]")
        if not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k={self.k!r}: must be a positive integer")
        if self.metric not in METRICS:
            raise ValueError(f"metric={self.metric!r}: choose one of {', '.join(METRICS)}")

    def as_dict(self) -> dict:
        return asdict(self)


def estimate_pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k when n >= k; the plug-in 1 - (1 - c/n)^k when fewer samples exist."""
    if n >= k:
        return pass_at_k(n, c, k)
    return 1.0 - (1.0 - c / n) ** k


def classify(n: int, c: int, band: Band) -> str:
    """The band state of a problem solved c times in n samples (n >= 1)."""
    if c / n > band.tau_1:
        return SATURATED
    if estimate_pass_at_k(n, c, band.k) < band.tau_k:
        return OUT_OF_REACH
    return IN_BAND


def wilson_bounds(n: int, c: int, z: float) -> tuple[float, float]:
    """Wilson score interval for a success rate: sound at the small n where adaptive sampling stops."""
    p = c / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class StoppingRule:
    """When adaptive sampling may stop a problem before ``n_max`` samples.

    - pass@k side: with k = n_max it asks "will any of the n_max samples succeed?"; the first
      success answers yes for good. With no success after ``give_up_after`` samples the problem
      is called out of reach (a problem with true rate p escapes this with chance (1-p)^n).
    - pass@1 side: stop once the Wilson interval (z) of the success rate lies wholly above
      tau_1 (saturated) or wholly at or below it (in band, given a success).
    """

    n_max: int = 128
    give_up_after: int = 64
    z: float = 2.0

    def decide(self, n: int, c: int, band: Band) -> str:
        """SATURATED / IN_BAND / OUT_OF_REACH once settled, else UNSETTLED."""
        if n >= self.n_max:
            return classify(n, c, band)
        low, high = wilson_bounds(n, c, self.z)
        if low > band.tau_1:
            return SATURATED
        if c == 0 and band.tau_k > 0:  # tau_k = 0 asks nothing of pass@k
            return OUT_OF_REACH if n >= self.give_up_after else UNSETTLED
        if high > band.tau_1:
            return UNSETTLED
        if band.tau_k == 0 or band.k >= self.n_max:  # any full run of n_max samples contains this success
            return IN_BAND
        if 1.0 - (1.0 - low) ** band.k >= band.tau_k:
            return IN_BAND
        if 1.0 - (1.0 - high) ** band.k < band.tau_k:
            return OUT_OF_REACH
        return UNSETTLED
