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
