"""Evaluation: spreading problems, exact summaries, real samples from a model, report files, compare, budget."""

import json
import os

import pytest

from interplay_verl.data.rows import spread
from interplay_verl.evaluation import summarize
from interplay_verl.rewards.composite import score_rows as score
from interplay_verl.sampling import flat_samples, request_seed, sampler
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
    assert report["by_op"][2] == {"problems": 2, "samples": 2, "answer_accuracy": 1.0, "verified": 1.0, "process_reward": 1.0,
                                  "well_formed": 1.0}
    json.dumps(report)  # the report is written as JSON


def test_sampling_decodes_like_verl(tiny_model):
    rows = _rows([2], per_op=3)
    texts = flat_samples(sampler(tiny_model, "hf", batch_size=2), [r["prompt"] for r in rows], max_new_tokens=8,
                         quiet=True)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    again = flat_samples(sampler(tiny_model, "hf", batch_size=3), [r["prompt"] for r in rows], max_new_tokens=8,
                         quiet=True)
    assert again == texts  # greedy: independent of batching


def test_request_seeds_do_not_collide():
    """vLLM seeds a request's n samples seed, seed + 1, ...: the seeds of requests of one call and of
    the next calls (the filter's rounds use call seeds s, s + 1, ...) must be far apart."""
    seeds = sorted(request_seed(call, i) for call in range(100) for i in range(500))
    assert min(b - a for a, b in zip(seeds, seeds[1:])) >= 1024  # room for n <= 1,024 samples each
    assert all(0 <= s < 2 ** 63 for s in seeds) and request_seed(2 ** 40 + 5, 2 ** 24 - 1) < 2 ** 63


def test_sampler_groups_n_samples_per_prompt(tiny_model):
    prompts = [r["prompt"] for r in _rows([2, 3], per_op=1)]
    groups = sampler(tiny_model, "hf").sample(prompts, [3, 1], max_new_tokens=6, temperature=1.0, seed=5, quiet=True)
    assert [len(g) for g in groups] == [3, 1]
    flat = flat_samples(sampler(tiny_model, "hf"), prompts, [3, 1], max_new_tokens=6, temperature=1.0, seed=5,
                        quiet=True)
    assert flat == groups[0] + groups[1]  # same seed, same texts, flattened prompt by prompt
    with pytest.raises(ValueError, match="one non-negative count per prompt"):
        sampler(tiny_model, "hf").sample(prompts, [1])
    with pytest.raises(ValueError, match="--backend 'tpu'"):
        sampler(tiny_model, "tpu")
    with pytest.raises(ValueError, match="auto or one of hf, replicas"):
        sampler(tiny_model, "vllm")


def test_pass_at_k_table_is_exact():
    from interplay_verl.evaluation import pass_at_k_table

    rows = [{"id": "a", "op": 2, "context": "zoo", "mode": "forward"}] * 4 + \
           [{"id": "b", "op": 12, "context": "zoo", "mode": "forward"}] * 4
    hit = {"outcome": 1.0, "verified": 1.0}
    answer_only = {"outcome": 1.0, "verified": 0.0}
    miss = {"outcome": 0.0, "verified": 0.0}
    scores = [hit, answer_only, miss, miss] + [miss] * 4
    table = pass_at_k_table(rows, scores)
    assert table["samples_per_problem"] == 4 and table["k"] == [1, 2, 4]
    assert table["overall"]["outcome"] == {1: 0.25, 2: 0.4167, 4: 0.5}  # a: 2 of 4 -> 0.5, 5/6, 1; b: 0
    assert table["overall"]["verified"] == {1: 0.125, 2: 0.25, 4: 0.5}  # a: 1 of 4 -> 0.25, 0.5, 1
    assert table["by_op"][12]["outcome"] == {1: 0.0, 2: 0.0, 4: 0.0}
    assert table["by_split"]["id"]["verified"] == {1: 0.25, 2: 0.5, 4: 1.0} and "ood_hard" not in table["by_split"]


def test_sampled_evaluation_reports_the_ladder_and_is_seeded(tiny_model, tmp_path):
    import pyarrow.parquet as pq
    import pytest

    from interplay_verl.evaluation import evaluate
    from interplay_verl.problems.generate import main as generate_main

    rows = str(tmp_path / "rows")
    assert generate_main(["--ops", "2-3", "--per-op", "3", "--seed", "4", "--out", rows, "--quiet"]) == 0
    args = dict(n_problems=4, max_new_tokens=6, n_samples=4, temperature=1.0, seed=3, quiet=True, backend="hf")
    report = evaluate(tiny_model, rows, str(tmp_path / "a"), **args)
    assert report["problems"] == 4 and set(report["pass_at_k"]["overall"]["outcome"]) == {1, 2, 4}
    assert set(report["pass_at_k"]["by_op"]) == {2, 3}
    evaluate(tiny_model, rows, str(tmp_path / "b"), **args)
    first, second = (pq.read_table(str(tmp_path / d / "samples.parquet")).column("completion").to_pylist()
                     for d in ("a", "b"))
    assert first == second and len(first) == 16 and len(set(first)) > 1  # seeded, and really sampled
    # the first two failing samples of the split (op 2-3: ID), drawn gold beside solution, and as GraphML
    assert sorted(os.listdir(tmp_path / "a" / "failures")) == ["id-1.graphml", "id-1.png", "id-2.graphml", "id-2.png"]
    with pytest.raises(ValueError, match="several samples need temperature > 0"):
        evaluate(tiny_model, rows, None, n_samples=4, temperature=0.0)


def test_evaluation_report_files_agree_and_plots_open(tiny_model, tmp_path):
    """The per-split eval sets, n samples per problem: JSON, CSV and Markdown carry the same numbers."""
    import csv

    import pyarrow.parquet as pq
    from PIL import Image

    from interplay_verl.data.eval_sets import main as eval_sets_main
    from interplay_verl.evaluation import main as evaluate_main
    from interplay_verl.plots import EVALUATION_PLOTS

    out, sets = tmp_path / "eval", str(tmp_path / "sets")
    assert eval_sets_main(["--out", sets, "--per-op", "1"]) == 0
    assert evaluate_main(["--model", tiny_model, "--rows", sets, "--out", str(out), "--n-samples", "2",
                          "--temperature", "1.0", "--max-new-tokens", "4", "--quiet", "--backend", "hf"]) == 0
    report = json.loads((out / "report.json").read_text())
    table = report["pass_at_k"]
    assert report["problems"] == 19 and report["samples"] == 38 and table["k"] == [1, 2]
    assert {s: e["problems"] for s, e in table["by_split"].items()} == {"id": 9, "ood_edge": 4, "ood_hard": 6}
    assert all((e["problems"], e["samples"]) == (1, 2) for e in report["by_op"].values())
    with open(out / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        group = table["overall"] if row["group"] == "overall" else table[f"by_{row['group']}"][row["value"]]
        assert float(row["pass_at_k"]) == group[row["kind"]][row["k"]]
    assert {(r["group"], r["value"]) for r in rows} >= {("split", "ood_hard"), ("op", "20"), ("context", "zoo")}
    md = (out / "report.md").read_text()
    for split, entry in table["by_split"].items():
        o, v = entry["outcome"], entry["verified"]
        assert f"| {split} | {entry['problems']} | {o['1']} | {o['2']} | {v['1']} | {v['2']} |" in md
    samples = pq.read_table(str(out / "samples.parquet"))
    assert samples.num_rows == 38 and set(samples.column("split").to_pylist()) == {"id", "ood_edge", "ood_hard"}
    for name in EVALUATION_PLOTS:
        with Image.open(out / name) as image:
            assert image.size[0] > 300 and image.size[1] > 200
    assert json.loads((out / "manifest.json").read_text())["kind"] == "evaluation"


def test_compare_reports_deltas_per_split(tmp_path):
    from interplay_verl.comparison import main as compare_main

    def fake_eval(name, id1, hard1):  # two report.json files as evaluate writes them
        d = tmp_path / name
        d.mkdir()
        entry = lambda p1: {"problems": 3, "samples": 6, "outcome": {"1": p1, "2": p1 + 0.1}, "verified": {"1": p1 / 2, "2": p1}}
        report = {"pass_at_k": {"k": [1, 2], "samples_per_problem": 2, "overall": entry(id1),
                                "by_split": {"id": entry(id1), "ood_hard": entry(hard1)},
                                "by_op": {"3": entry(id1), "5": entry(hard1), "6": dict(entry(0.0), problems=1)}}}
        (d / "report.json").write_text(json.dumps(report))
        return str(d)

    out = tmp_path / "cmp"
    assert compare_main([fake_eval("base", 0.5, 0.0), fake_eval("rl", 0.7, 0.2), "--names", "base,rl",
                         "--out", str(out)]) == 0
    result = json.loads((out / "comparison.json").read_text())
    assert result["k"] == [1, 2] and list(result["splits"]) == ["all", "id", "ood_hard"]
    assert result["splits"]["ood_hard"]["rl"]["delta"] == {"outcome": {"1": 0.2, "2": 0.2}, "verified": {"1": 0.1, "2": 0.2}}
    md = (out / "comparison.md").read_text()
    assert "| ood_hard | rl | 3 | 0.2000 (+0.2000) | 0.3000 (+0.2000) | 0.1000 (+0.1000) | 0.2000 (+0.2000) |" in md
    assert (out / "comparison.png").stat().st_size > 1000
    assert compare_main([str(tmp_path / "missing"), "--out", str(out)]) == 2  # names the directory
    # splits relative to a run pre-trained on op 2-4: ID 2-4, OOD-edge 5-8, OOD-hard 9-14
    rel = tmp_path / "rel"
    assert compare_main([str(tmp_path / "base"), str(tmp_path / "rl"), "--out", str(rel), "--id-top", "4"]) == 0
    result = json.loads((rel / "comparison.json").read_text())
    assert result["run_splits"] == {"run_id": [2, 4], "run_ood_edge": [5, 8], "run_ood_hard": [9, 14]}
    assert list(result["splits"]) == ["all", "id", "ood_hard", "run_id", "run_ood_edge"]  # no op 9-14 evaluated
    edge = result["splits"]["run_ood_edge"]["rl"]  # op 5 (3 problems at 0.2) and op 6 (1 problem at 0)
    assert edge["problems"] == 4 and edge["outcome"]["1"] == pytest.approx(0.15) and edge["outcome"]["2"] == pytest.approx(0.25)
    # labels say which ops of a split were evaluated, where not all
    assert result["evaluated_ops"] == {"id": [3, 6], "run_id": [3, 3], "run_ood_edge": [5, 6]}
    assert "| run_ood_edge (op 5-8, evaluated 5-6) | rl | 4 |" in (rel / "comparison.md").read_text()
    assert "| id (evaluated 3-6) | rl | 3 |" in (rel / "comparison.md").read_text()


def test_budget_takes_the_rollout_length_a_run_measured(tmp_path):
    from interplay_verl.budget import account

    os.makedirs(tmp_path / "rl" / "metrics")
    with open(tmp_path / "rl" / "metrics" / "run-00.jsonl", "w") as f:
        for step, (p, r) in enumerate([(100, 500), (110, 520), (120, 540)], 1):
            f.write(json.dumps({"step": step, "data": {"prompt_length/mean": p, "response_length/mean": r}}) + "\n")
    result = account(None, None, "interplay_grpo", 2048, None, 5.3, [0.5], [200], from_run=str(tmp_path / "rl"))
    assert result["rl"]["tokens_per_rollout"] == pytest.approx(110 + 520)
    assert result["rl"]["tokens_per_step"] == pytest.approx(5.3 * 1024 * 6 * 630)
    assert result["rl"]["tokens_per_rollout_from"].startswith("measured: mean over 3 steps of ")
    bound = account(None, None, "interplay_grpo", 2048, None, 5.3, [0.5], [200])["rl"]
    assert bound["tokens_per_rollout"] == 2048 and "upper bound" in bound["tokens_per_rollout_from"]
    with pytest.raises(ValueError, match=r"--from-run .*nowhere: no prompt_length/mean"):
        account(None, None, "interplay_grpo", 2048, None, 5.3, [0.5], [200], from_run=str(tmp_path / "nowhere"))
    with pytest.raises(ValueError, match="not both"):
        account(None, None, "interplay_grpo", 2048, 600.0, 5.3, [0.5], [200], from_run=str(tmp_path / "rl"))


def test_budget_matches_the_papers_accounting():
    from interplay_verl.budget import account, rl_factor, rl_tokens, split_budget

    # per rollout token, in units of a supervised token's 6N FLOPs: decoding 2N x d (d: how much
    # costlier a decoded token is than a token of a forward pass), old log-probs 2N, the reference
    # model's 2N when KL is on, and the update 6N per epoch
    assert rl_factor(1, kl=False, epochs=1) == pytest.approx((2 + 2 + 6) / 6)
    assert rl_factor(3, kl=True, epochs=2) == pytest.approx((6 + 2 + 2 + 12) / 6)
    assert rl_factor(5) - rl_factor(4) == pytest.approx(2 / 6)  # each unit of d costs 2N
    assert rl_factor(4, kl=True) - rl_factor(4, kl=False) == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="decode_inefficiency >= 1"):
        rl_factor(0.5)
    assert rl_tokens(1024, 6, 2048) == pytest.approx(5.3 * 1024 * 6 * 2048)
    split = split_budget(100, 0.2, 1e6)
    assert split["midtrain_tokens"] == pytest.approx(2e7) and split["rl_steps"] == pytest.approx(80)
    assert [split_budget(10, f, 1)["regime"] for f in (0, 0.2, 0.5, 0.8)] == ["Full-RL", "Heavy-RL", "balanced", "Light-RL"]
    with pytest.raises(ValueError, match="fraction 1.5"):
        split_budget(10, 1.5, 1)
    import os

    configs = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes", "configs")
    result = account(os.path.join(configs, "pretrain_paper.yaml"), None, "interplay_grpo", 2048, 1000.0, 5.3, [0.5], [200])
    assert result["pretrain_tokens"] == 19073 * 256 * 2048  # ~10B tokens, docs/method.md#10-models-tokenizer-and-training-settings
    assert result["rl"]["tokens_per_step"] == pytest.approx(5.3 * 1024 * 6 * 1000)
    from interplay_verl.budget import gpu_hours, model_parameters

    assert gpu_hours(3600e12, 1 / 6, 1, 1) == pytest.approx(1.0)  # 6N FLOPs per token at full peak
    assert gpu_hours(1e9, 1e8, 312, 0.4) == pytest.approx(1e9 * 6e8 / (312e12 * 0.4) / 3600)
    hours = account(os.path.join(configs, "pretrain_paper.yaml"), None, "interplay_grpo", 2048, 1000.0, 5.3, [0.5],
                    [200], {"params": 1e8, "peak_tflops": 312.0, "mfu": 0.4})["gpu_hours"]
    assert hours["pretrain"] == round(gpu_hours(19073 * 256 * 2048, 1e8, 312, 0.4), 1) and set(hours) == {
        "pretrain", "rl", "assumed"}
    assert 9e7 < model_parameters("100m") < 1.3e8  # the paper's ~100M Qwen2


def test_eval_sets_are_rows_disjoint_from_training(tmp_path):
    from interplay_verl.data.eval_sets import EVAL_SEED, write_eval_sets
    from interplay_verl.data.rows import load_rows, read_ids
    from interplay_verl.problems.generate import main as generate_main

    train = str(tmp_path / "train")  # the same seed and op as the eval set: its first rows are the same problems
    assert generate_main(["--ops", "2:1.0", "--per-op", "3", "--seed", str(EVAL_SEED), "--out", train, "--quiet"]) == 0
    out = str(tmp_path / "eval")
    result = write_eval_sets(out, per_op=4, splits=["id", "ood_edge"], disjoint_from=[train])
    assert result == {"rows": 13 * 4 - 3, "excluded": 3, "by_split": {"id": 9 * 4 - 3, "ood_edge": 16}}
    rows = load_rows(out)
    assert not read_ids(out) & read_ids(train) and sorted({r["op"] for r in rows}) == list(range(2, 15))
    assert json.load(open(f"{out}/manifest.json"))["kind"] == "eval_sets"
    with pytest.raises(ValueError, match="split 'hard': choose from id, ood_edge, ood_hard or an op range"):
        write_eval_sets(str(tmp_path / "x"), splits=["hard"])
    with pytest.raises(ValueError, match="split '5-3': an op range needs 2 <= lo <= hi"):
        write_eval_sets(str(tmp_path / "x"), splits=["5-3"])
    with pytest.raises(ValueError, match=r"op 2 is in two splits \(id, 2-7\): give each op once"):
        write_eval_sets(str(tmp_path / "x"), splits=["id", "2-7"])
    with pytest.raises(ValueError, match="split '2-': choose from"):
        write_eval_sets(str(tmp_path / "x"), splits=["2-"])
    # op ranges: a CPU run's own ops, the same problems as the named split holds at those ops
    ranged = write_eval_sets(str(tmp_path / "r"), per_op=4, splits=["2-3", "12"])
    assert ranged["by_split"] == {"id": 8, "ood_edge": 4}
    op3 = lambda rs: sorted(r["id"] for r in rs if r["op"] == 3)
    assert op3(load_rows(str(tmp_path / "r"))) == op3(rows) and len(op3(rows)) == 4
    # the generator's checks, before any work (as `generate` makes them)
    from interplay_verl.problems.sampler import SamplerConfig

    with pytest.raises(ValueError, match="max_value 5: must be at least 10"):
        write_eval_sets(str(tmp_path / "y"), sampler=SamplerConfig(max_value=5))
    with pytest.raises(ValueError, match=r"style paper: \['letters'\] apply to style interplay only"):
        write_eval_sets(str(tmp_path / "z"), style="paper", sampler=SamplerConfig(letters="ordered"))
    assert not os.path.exists(tmp_path / "y") and not os.path.exists(tmp_path / "z")


def test_replica_requests_give_every_sample_its_own_seed():
    """What a replica server (vLLM's ``SamplingParams(**params)`` on GPU) receives per sample: n samples
    of a prompt are n requests with distinct seeds, spaced from every other prompt's and call's."""
    from interplay_verl.replicas import request_params

    reqs = {(call, i, j): request_params(call, i, j, max_new_tokens=7, temperature=0.7, top_p=0.9)
            for call in (4, 5) for i in range(3) for j in range(128)}
    assert len({r["seed"] for r in reqs.values()}) == len(reqs) == 768
    assert reqs[(4, 2, 5)] == {"temperature": 0.7, "top_p": 0.9, "top_k": -1, "max_tokens": 7, "logprobs": False,
                               "seed": request_seed(4, 2) + 5}
