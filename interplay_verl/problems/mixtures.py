"""Training mixtures (docs/method.md#9-training-mixtures): weights over op, and over contexts.

Preset names follow the paper. The paper's committed pre-training preset for 0.2/0.3/0.5
summed its shares to 1.8 and silently moved most tokens to op 3; here any weights that do
not sum to 1 are an error naming the preset.
"""

from __future__ import annotations

import re

TOLERANCE = 1e-6


class MixtureError(ValueError):
    pass


def _uniform(lo: int, hi: int, share: float) -> dict[int, float]:
    if lo > hi:
        raise MixtureError(f"empty op range {lo}-{hi}")
    return {op: share / (hi - lo + 1) for op in range(lo, hi + 1)}


def _add(*parts: dict[int, float]) -> dict[int, float]:
    out: dict[int, float] = {}
    for part in parts:
        for op, w in part.items():
            out[op] = out.get(op, 0.0) + w
    return out


def _checked(name: str, weights: dict[int, float], shares: list[float]) -> dict[int, float]:
    if any(s < 0 for s in shares) or any(w < 0 for w in weights.values()):
        raise MixtureError(f"mixture {name!r}: negative weight")
    total = sum(shares)
    if abs(total - 1.0) > TOLERANCE:
        raise MixtureError(f"mixture {name!r}: weights sum to {total:.6g}, not 1 (within {TOLERANCE:g})")
    if not weights or all(w == 0 for w in weights.values()):
        raise MixtureError(f"mixture {name!r}: no op has weight")
    return {op: w for op, w in sorted(weights.items()) if w > 0}


_ID = re.compile(r"id2-10_([\d.]+)easy_([\d.]+)medium_([\d.]+)hard")
# "_plus" on a mid-training name is the paper's one long 20B-token run of the same mixture (checkpoints
# every 1% for the compute study), not a preset of its own; its data is the mixture without "_plus"
_CPT = re.compile(r"cpt([\d.]+)-uniform_([\d.]+)-(\d+)-(\d+)(?:_plus)?")
_RANGE = re.compile(r"(\d+)(?:-(\d+))?(_plus)?")  # "2-20", "11-14_plus", or one op: "2"
_TABLE = re.compile(r"\d+\s*:\s*[\d.]+(\s*,\s*\d+\s*:\s*[\d.]+)*")


def op_weights(spec: str) -> dict[int, float]:
    """Preset name, op range ("2-20", "11-14_plus", "2") or table ("2:0.5,3:0.5") -> {op: weight}."""
    spec = spec.strip()
    try:
        if m := _ID.fullmatch(spec):
            e, mid, h = (float(g) for g in m.groups())
            return _checked(spec, _add(_uniform(2, 4, e), _uniform(5, 7, mid), _uniform(8, 10, h)), [e, mid, h])
        if m := _CPT.fullmatch(spec):
            p, q, lo, hi = float(m[1]), float(m[2]), int(m[3]), int(m[4])
            return _checked(spec, _add(_uniform(2, 10, p), _uniform(lo, hi, q)), [p, q])
        if m := _RANGE.fullmatch(spec):
            lo, hi = int(m[1]), int(m[2] or m[1])
            if m[3]:  # RL with 10% replay of in-distribution data
                return _checked(spec, _add(_uniform(2, 10, 0.1), _uniform(lo, hi, 0.9)), [0.1, 0.9])
            return _checked(spec, _uniform(lo, hi, 1.0), [1.0])
        if _TABLE.fullmatch(spec):
            table: dict[int, float] = {}
            for part in spec.split(","):
                op, w = part.split(":")
                if int(op) in table:
                    raise MixtureError(f"op {int(op)} listed twice")
                table[int(op)] = float(w)
            return _checked(spec, table, list(table.values()))
    except MixtureError as exc:
        if str(exc).startswith("mixture "):
            raise
        raise MixtureError(f"mixture {spec!r}: {exc}") from None
    raise MixtureError(
        f"mixture {spec!r}: not a preset (id2-10_<e>easy_<m>medium_<h>hard, cpt<p>-uniform_<q>-<lo>-<hi>[_plus]), "
        "an op range (2-20, 11-14_plus, 2) or a table (2:0.5,3:0.5)"
    )


def context_weights(spec: str, known: set[str] | None = None) -> dict[str, float]:
    """"zoo,school" (uniform) or "zoo:0.99,school:0.01" -> {context: weight}."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise MixtureError(f"contexts {spec!r}: empty")
    weights: dict[str, float] = {}
    for part in parts:
        name, _, w = part.partition(":")
        weights[name.strip()] = float(w) if w else 1.0 / len(parts)
    for name in weights:
        if known is not None and name not in known:
            raise MixtureError(f"contexts {spec!r}: unknown context {name!r}; known: {sorted(known)}")
    total = sum(weights.values())
    if abs(total - 1.0) > TOLERANCE:
        raise MixtureError(f"contexts {spec!r}: weights sum to {total:g}, not 1")
    return weights


def allocate(total: int, weights: dict) -> dict:
    """Split an integer count by weights with the largest-remainder rule (deterministic)."""
    raw = {k: total * w for k, w in weights.items()}
    counts = {k: int(v) for k, v in raw.items()}
    order = sorted(weights, key=lambda k: (-(raw[k] - counts[k]), str(k)))
    for k in order[: total - sum(counts.values())]:
        counts[k] += 1
    return counts
