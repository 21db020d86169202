"""Bootstrap intervals over problems: exact per-problem pass@k, intervals that pairing narrows,
and the comparison report that prints them."""

import json

import numpy as np
import pandas as pd
import pytest

from interplay_verl import intervals
from interplay_verl.rewards.composite import ERROR_KEYS


def samples(scores: dict[str, list[int]], op: int = 3) -> pd.DataFrame:
    rows = [(pid, op, s, s) for pid, values in scores.items() for s in values]
    return pd.DataFrame(rows, columns=["id", "op", "outcome", "verified"])


def test_per_problem_pass_at_k_is_the_unbiased_estimate():
    s = samples({"p1": [1, 0, 0, 0], "p2": [0, 0, 0, 0], "p3": [1, 1, 0, 1]})
    assert intervals.per_problem(s, "verified", 1) == pytest.approx({"p1": 0.25, "p2": 0.0, "p3": 0.75})
    # pass@2 = 1 - C(n-c, 2) / C(n, 2): p1 1 - 3/6, p3 1 (only one miss)
    assert intervals.per_problem(s, "verified", 2) == pytest.approx({"p1": 0.5, "p2": 0.0, "p3": 1.0})


def test_interval_is_seeded_and_about_the_normal_width():
    values = [0.0, 1.0] * 50
    lo, hi = intervals.interval(values)
    assert (lo, hi) == intervals.interval(values)  # same seed, same interval
    assert lo < 0.5 < hi and hi - lo == pytest.approx(2 * 1.96 * 0.05, abs=0.03)
    assert intervals.interval([0.3] * 7) == pytest.approx((0.3, 0.3))
    with pytest.raises(ValueError, match="no problems"):
        intervals.interval([])


def test_pairing_finds_a_small_consistent_change_the_separate_intervals_miss():
    rng = np.random.default_rng(1)
    before = {f"p{i}": float(v) for i, v in enumerate(rng.random(60))}
    after = {k: min(1.0, v + 0.05) for k, v in before.items()}
    change = intervals.paired_change(before, after)
    assert change["beyond_noise"] and change["low"] > 0 and change["problems"] == 60
    b, a = intervals.interval(list(before.values())), intervals.interval(list(after.values()))
    assert a[0] < b[1]  # each checkpoint's own interval overlaps the other's
    same = intervals.paired_change(before, {k: v + rng.choice([-0.1, 0.1]) for k, v in before.items()})
    assert not same["beyond_noise"] and same["low"] < 0 < same["high"]
    with pytest.raises(ValueError, match="share no problem"):
        intervals.paired_change({"a": 1.0}, {"b": 1.0})
    assert intervals.describe({"change": 0.05, "low": 0.0412, "high": 0.0588}) == "+0.0500 [+0.0412, +0.0588]"


def test_compare_prints_intervals_from_the_samples(tmp_path):
    from interplay_verl.comparison import main as compare_main
    from interplay_verl.evaluation import summarize

    def evaluation(name: str, hits: dict[str, list[int]]) -> str:  # report.json and samples.parquet as evaluate writes them
        d = tmp_path / name
        d.mkdir()
        s = samples(hits)
        s.loc[s["id"].str.endswith("x"), "op"] = 5
        rows = [{"id": r.id, "op": r.op, "context": "zoo", "mode": "forward", "answer": "1"} for r in s.itertuples()]
        scores = [{k: float(getattr(r, k)) if k in ("outcome", "verified") else 0.0 for k in
                   ("outcome", "verified", "process", "process_acc", *ERROR_KEYS)} for r in s.itertuples()]
        (d / "report.json").write_text(json.dumps(summarize(rows, scores)))
        s.to_parquet(d / "samples.parquet")
        return str(d)

    ids = [f"p{i}" for i in range(30)] + [f"q{i}x" for i in range(30)]
    base = evaluation("base", {p: [0, 0] if p.endswith("x") else [1, 0] for p in ids})
    mid = evaluation("mid", {p: [1, 0] if p.endswith("x") else [1, 0] for p in ids})
    rl = evaluation("rl", {p: [1, 1] if p.endswith("x") else [1, 0] for p in ids})
    out = tmp_path / "cmp"
    assert compare_main([base, mid, rl, "--out", str(out), "--id-top", "4"]) == 0
    result = json.loads((out / "comparison.json").read_text())
    assert result["intervals"] is True
    edge = result["splits"]["run_ood_edge"]["rl"]["change"]["verified"]["1"]  # op 5: 0 -> 1 on every problem
    assert edge == {"before": 0.0, "after": 1.0, "change": 1.0, "low": 1.0, "high": 1.0, "problems": 30,
                    "beyond_noise": True}
    same = result["splits"]["run_id"]["rl"]["change"]["verified"]["1"]  # op 3: unchanged
    assert same["change"] == 0.0 and not same["beyond_noise"]
    assert result["splits"]["run_id"]["base"]["interval"]["verified"]["1"] == [0.5, 0.5]
    # RL against the checkpoint it started from: op 5 0.5 -> 1 on every problem; op 3 unchanged
    step = result["splits"]["run_ood_edge"]["rl"]["step_change"]["verified"]["1"]
    assert (step["change"], step["low"], step["high"], step["beyond_noise"]) == (0.5, 0.5, 0.5, True)
    assert "step_change" not in result["splits"]["run_ood_edge"]["mid"]  # its change from base is the main table's
    md = (out / "comparison.md").read_text()
    assert "| run_ood_edge (op 5-8, evaluated 5-5) | rl | 30 | 1.0000 (+1.0000 [+1.0000, +1.0000])* |" in md
    assert "| run_id (op 2-4, evaluated 3-3) | base | 30 | 0.5000 [0.5000, 0.5000] |" in md
    assert "| run_ood_edge (op 5-8, evaluated 5-5) | rl | mid | +0.5000 [+0.5000, +0.5000]* |" in md
    assert "| run_id (op 2-4, evaluated 3-3) | rl | mid | +0.0000 [+0.0000, +0.0000] |" in md

