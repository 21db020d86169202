"""Greedy evaluation: spreading problems over ops, exact summaries, and real completions from a model."""

import json

from interplay_verl.evaluation import complete, score, spread, summarize
from interplay_verl.problems.contexts import load_context
from interplay_verl.problems.rows import generate_row


def _rows(ops, per_op=4):
    ctx = load_context("zoo")
    return [generate_row(op, "forward", ctx, seed=9, index=i) for op in ops for i in range(per_op)]


def test_spread_takes_round_robin_over_op():
    rows = _rows([2, 3, 4], per_op=4)
    picked = spread(rows, 5)
    assert [r["op"] for r in picked] == [2, 3, 4, 2, 3]
    assert len(spread(rows, 100)) == 12


def test_summary_scores_gold_and_garbage_exactly():
    rows = _rows([2, 3], per_op=2)
    gold = [r["text"].split("<solution>", 1)[1] for r in rows]
    completions = [gold[0], gold[1], "nonsense", f"<answer> {rows[3]['answer']} </answer>"]
    report = summarize(rows, score(rows, completions))
    assert report["problems"] == 4 and report["well_formed"] == 0.75
    assert report["verified"] == 0.5 and report["answer_accuracy"] == 0.75
    assert report["process_reward"] == 0.5  # 1, 1, 0, and 0 for a bare answer
    answers = [str(r["answer"]) for r in rows]
    majority = max(set(answers), key=lambda a: (answers.count(a), -answers.index(a)))
    assert report["majority_answer_accuracy"] == answers.count(majority) / 4
    assert report["by_op"][2] == {"problems": 2, "answer_accuracy": 1.0, "verified": 1.0, "process_reward": 1.0,
                                  "well_formed": 1.0}
    json.dumps(report)  # the report is written as JSON


def test_complete_decodes_like_verl(tiny_model):
    rows = _rows([2], per_op=3)
    texts = complete(tiny_model, [r["prompt"] for r in rows], max_new_tokens=8, batch_size=2, quiet=True)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    again = complete(tiny_model, [r["prompt"] for r in rows], max_new_tokens=8, batch_size=3, quiet=True)
    assert again == texts  # greedy: independent of batching


def test_pass_at_k_table_is_exact():
    from interplay_verl.evaluation import pass_at_k_table

    rows = [{"id": "a", "op": 2}] * 4 + [{"id": "b", "op": 3}] * 4
    hit = {"outcome": 1.0, "verified": 1.0}
    answer_only = {"outcome": 1.0, "verified": 0.0}
    miss = {"outcome": 0.0, "verified": 0.0}
    scores = [hit, answer_only, miss, miss] + [miss] * 4
    table = pass_at_k_table(rows, scores)
    assert table["samples_per_problem"] == 4
    assert table["outcome"] == {1: 0.25, 2: 0.4167, 4: 0.5}  # a: 2 of 4 -> 0.5, 5/6, 1; b: 0
    assert table["verified"] == {1: 0.125, 2: 0.25, 4: 0.5}  # a: 1 of 4 -> 0.25, 0.5, 1
    assert table["by_op"][3] == {"outcome": {1: 0.0, 2: 0.0, 4: 0.0}, "verified": {1: 0.0, 2: 0.0, 4: 0.0}}


def test_sampled_evaluation_reports_the_ladder_and_is_seeded(tiny_model, tmp_path):
    import pyarrow.parquet as pq
    import pytest

    from interplay_verl.evaluation import evaluate
    from interplay_verl.problems.generate import main as generate_main

    rows = str(tmp_path / "rows")
    assert generate_main(["--ops", "2-3", "--per-op", "3", "--seed", "4", "--out", rows, "--quiet"]) == 0
    args = dict(n_problems=4, max_new_tokens=6, n_samples=4, temperature=1.0, seed=3, quiet=True)
    report = evaluate(tiny_model, rows, str(tmp_path / "a"), **args)
    assert report["problems"] == 4 and set(report["pass_at_k"]["outcome"]) == {1, 2, 4}
    assert set(report["pass_at_k"]["by_op"]) == {2, 3}
    evaluate(tiny_model, rows, str(tmp_path / "b"), **args)
    first, second = (pq.read_table(str(tmp_path / d / "completions.parquet")).column("completion").to_pylist()
                     for d in ("a", "b"))
    assert first == second and len(first) == 16 and len(set(first)) > 1  # seeded, and really sampled
    with pytest.raises(ValueError, match="several samples need temperature > 0"):
        evaluate(tiny_model, rows, None, n_samples=4, temperature=0.0)
