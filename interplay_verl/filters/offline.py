"""``interplay-verl filter``: keep the RL problems at a checkpoint's edge of competence.

Samples completions of candidate problems with the checkpoint, scores them with the verifier
(the RL reward's comparator), and keeps the problems with pass@1 <= tau_1 and pass@k >= tau_k
(docs/method.md#8-the-edge-of-competence). Sampling is adaptive: problems are sampled in rounds and a problem leaves
the rounds as soon as its band decision is settled (``band.StoppingRule``), so saturated
problems cost a round or two and problems that succeed early need no 128 samples;
``--fixed`` samples every problem n_max times, the paper's way, for comparison.

Writes ``rl.parquet`` (the kept problems, verl's RL schema), ``problems.parquet`` (counts and
state per problem), ``report.json`` (per-op pass rates, kept / dropped, samples used and
saved), ``report.png`` and ``manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from typing import Optional
from collections.abc import Sequence

from interplay_verl.filters.band import IN_BAND, OUT_OF_REACH, SATURATED, STATES, UNSETTLED, Band, StoppingRule, classify


class AdaptiveSampling:
    """Counts per problem over rounds of sampling; a problem stops once its decision is settled."""

    def __init__(self, n_problems: int, band: Band, rule: StoppingRule, round_size: int = 8, adaptive: bool = True):
        if round_size < 1:
            raise ValueError(f"round size {round_size}: must be >= 1")
        self.band, self.rule, self.round_size, self.adaptive = band, rule, round_size, adaptive
        self.n = [0] * n_problems
        self.c = [0] * n_problems
        self.state = [UNSETTLED] * n_problems

    def next_round(self) -> list[tuple[int, int]]:
        """(problem, samples to draw) for every problem still unsettled."""
        return [(i, min(self.round_size, self.rule.n_max - n)) for i, (n, s) in enumerate(zip(self.n, self.state))
                if s == UNSETTLED]

    def record(self, i: int, successes: Sequence[bool]) -> str:
        self.n[i] += len(successes)
        self.c[i] += sum(bool(s) for s in successes)
        n, c = self.n[i], self.c[i]
        if self.adaptive:
            self.state[i] = self.rule.decide(n, c, self.band)
        elif n >= self.rule.n_max:
            self.state[i] = classify(n, c, self.band)
        return self.state[i]

    @property
    def samples_used(self) -> int:
        return sum(self.n)


def _by_op(rows: list[dict], sampling: AdaptiveSampling, other: list[int]) -> dict:
    groups: dict[int, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        groups[int(row["op"])].append(i)
    out = {}
    for op, idx in sorted(groups.items()):
        out[op] = {
            "problems": len(idx),
            **{s: sum(sampling.state[i] == s for i in idx) for s in STATES},
            "pass_at_1": round(sum(sampling.c[i] / sampling.n[i] for i in idx) / len(idx), 4),
            "pass_at_1_other_metric": round(sum(other[i] / sampling.n[i] for i in idx) / len(idx), 4),
            "samples": sum(sampling.n[i] for i in idx),
        }
    return out


def other_metric(band: Band) -> str:
    """The metric the band does not select on (reported beside it)."""
    return "verified" if band.metric == "outcome" else "outcome"


def _sample_rounds(model_sampler, rows, sampling, band, other, temperature, max_new_tokens, seed, quiet,
                   semantics: str = "interplay") -> int:
    """Sample the unsettled problems round by round until the stopping rule settles all; returns the rounds."""
    from interplay_verl.rewards.composite import score_rows
    from interplay_verl.sampling import flat_samples

    rounds = 0
    while True:
        todo = sampling.next_round()
        if not todo:
            break
        rounds += 1
        owners = [i for i, m in todo for _ in range(m)]
        sampled = [rows[i] for i in owners]
        if not quiet:
            print(f"[filter] round {rounds}: {len(todo)} problems unsettled, {len(owners)} samples", flush=True)
        texts = flat_samples(model_sampler, [rows[i]["prompt"] for i, _ in todo], [m for _, m in todo],
                             max_new_tokens=max_new_tokens, temperature=temperature, seed=seed * 1000003 + rounds,
                             quiet=quiet)
        results: dict[int, list[bool]] = defaultdict(list)
        for i, s in zip(owners, score_rows(sampled, texts, semantics=semantics)):
            results[i].append(s[band.metric] == 1.0)
            other[i] += int(s[other_metric(band)] == 1.0)
        for i, successes in results.items():
            sampling.record(i, successes)
    return rounds


def run_filter(model: str, rows_dir: str, out: str, band: Band = Band(), rule: StoppingRule = StoppingRule(),
               n_problems: Optional[int] = None, round_size: int = 8, adaptive: bool = True,
               temperature: float = 1.0, max_new_tokens: int = 256, batch_size: int = 64, seed: int = 0,
               quiet: bool = False, backend: str = "auto", placement: Optional[dict] = None,
               semantics: str = "interplay") -> dict:
    """Sample the candidates adaptively and keep those in the band. ``semantics``: how samples are
    read (``rewards.composite.SEMANTICS``), the same reading the RL reward will use."""
    import pyarrow as pa

    from interplay_verl import plots
    from interplay_verl.atomic import atomic_write_parquet, atomic_write_text
    from interplay_verl.data.rl import write_rl_parquet
    from interplay_verl.data.rows import load_rows, spread
    from interplay_verl.manifest import invalidate, write_manifest
    from interplay_verl.rewards.composite import check_reward_kwargs
    from interplay_verl.sampling import session

    check_reward_kwargs(semantics=semantics)
    if temperature <= 0:
        raise ValueError(f"--temperature {temperature}: the filter estimates pass rates, it needs temperature > 0")
    if band.k > rule.n_max:
        raise ValueError(f"--k {band.k} > --n-max {rule.n_max}: pass@k needs at least k samples")
    rows = load_rows(rows_dir)
    if n_problems:
        rows = spread(rows, n_problems)
    if not rows:
        raise ValueError(f"{rows_dir}: no candidate problems")
    os.makedirs(out, exist_ok=True)
    invalidate(out)
    start = time.time()
    sampling = AdaptiveSampling(len(rows), band, rule, round_size, adaptive)
    other = [0] * len(rows)
    with session(model, backend, batch_size, **(placement or {})) as model_sampler:  # the same replicas every round
        rounds = _sample_rounds(model_sampler, rows, sampling, band, other, temperature, max_new_tokens, seed, quiet,
                                semantics)
    kept = [row for row, state in zip(rows, sampling.state) if state == IN_BAND]
    fixed = rule.n_max * len(rows)
    report = {
        "band": band.as_dict(),
        "rule": {"n_max": rule.n_max, "give_up_after": rule.give_up_after, "z": rule.z, "round_size": round_size,
                 "adaptive": adaptive},
        "problems": len(rows),
        "kept": len(kept),
        "dropped": {s: sampling.state.count(s) for s in (SATURATED, OUT_OF_REACH)},
        "samples_used": sampling.samples_used,
        "samples_fixed_n_max": fixed,
        "samples_saved": fixed - sampling.samples_used,
        "sample_share": round(sampling.samples_used / fixed, 4),
        "rounds": rounds,
        "samples_per_replica": model_sampler.served,
        "by_op": _by_op(rows, sampling, other),
        "seconds": round(time.time() - start, 1),
    }
    table = pa.table({
        "id": [r["id"] for r in rows], "op": [int(r["op"]) for r in rows], "context": [r["context"] for r in rows],
        "mode": [r["mode"] for r in rows], "n": sampling.n, f"c_{band.metric}": sampling.c,
        f"c_{other_metric(band)}": other, "state": sampling.state,
    })
    atomic_write_parquet(table, os.path.join(out, "problems.parquet"))
    atomic_write_text(os.path.join(out, "report.json"), json.dumps(report, indent=2) + "\n")
    plots.filter_report(report, os.path.join(out, "report.png"))
    if not kept:
        raise ValueError(f"no problem is in the band (pass@1 <= {band.tau_1}, pass@{band.k} >= {band.tau_k}); "
                         f"per-op pass rates are in {os.path.join(out, 'report.json')}: widen the band "
                         "(--tau-1 up, --tau-k down) or choose other ops")
    write_rl_parquet(kept, os.path.join(out, "rl.parquet"))
    write_manifest(out, config={"model": os.path.abspath(model), "rows": os.path.abspath(rows_dir),
                                "n_problems": n_problems, "temperature": temperature,
                                "max_new_tokens": max_new_tokens, **report["rule"], "band": report["band"],
                                "semantics": semantics},
                   seed=seed, kind="edge_filter", report={k: report[k] for k in ("problems", "kept", "dropped",
                                                                                 "samples_used", "sample_share")})
    return report


def main(argv: Optional[list[str]] = None) -> int:
    from interplay_verl.models import add_model_arguments, model_path
    from interplay_verl.rewards.composite import SEMANTICS
    from interplay_verl.sampling import add_sampling_arguments, placement

    p = argparse.ArgumentParser(prog="interplay-verl filter", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_model_arguments(p, "the checkpoint to filter for (a stage's hf/)")
    p.add_argument("--rows", required=True, help="candidate problems (`interplay-verl generate` output)")
    p.add_argument("--out", required=True, help="directory for rl.parquet, problems.parquet, report.json/png")
    p.add_argument("--n-problems", type=int, help="candidates, spread over op/context/mode (default: all)")
    p.add_argument("--tau-1", type=float, default=Band.tau_1, help="keep problems with pass@1 <= tau_1")
    p.add_argument("--tau-k", type=float, default=Band.tau_k, help="... and pass@k >= tau_k")
    p.add_argument("--k", type=int, default=Band.k, help="the k of pass@k")
    p.add_argument("--metric", choices=["outcome", "verified"], default=Band.metric, help="what counts as solved")
    p.add_argument("--n-max", type=int, default=StoppingRule.n_max, help="samples per problem at most")
    p.add_argument("--give-up-after", type=int, default=StoppingRule.give_up_after,
                   help="samples without a success after which a problem is out of reach")
    p.add_argument("--z", type=float, default=StoppingRule.z, help="Wilson interval width settling pass@1")
    p.add_argument("--round-size", type=int, default=8, help="samples per unsettled problem per round")
    p.add_argument("--fixed", action="store_true", help="sample every problem n-max times (no early stop)")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (RL rollouts use 1.0)")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=64)
    add_sampling_arguments(p)
    p.add_argument("--semantics", choices=SEMANTICS, default="interplay",
                   help="how samples are scored: ours, or the released reward's reading (as the RL run will)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    from interplay_verl.command import report

    def work() -> dict:
        band = Band(args.tau_1, args.tau_k, args.k, args.metric)
        rule = StoppingRule(args.n_max, args.give_up_after, args.z)
        result = run_filter(model_path(args), args.rows, args.out, band, rule, args.n_problems, args.round_size,
                            not args.fixed, args.temperature, args.max_new_tokens, args.batch_size, args.seed,
                            args.quiet, args.backend, placement(args), args.semantics)
        return {k: result[k] for k in ("problems", "kept", "dropped", "samples_used", "sample_share", "seconds")}

    return report("filter", work, (ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
