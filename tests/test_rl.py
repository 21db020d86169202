"""RL through verl's main_ppo: config, the interplay_edge trainer, the online filter and its metrics.

The band and pool logic are tested exactly first; then real GRPO runs on the tiny model (verl's
V1 trainer, Ray, FSDP actor, our CPU rollout) with a scripted competence
(tests/assets/scripted_competence.py) that makes the filter's decisions predictable. GRPO with
the gated process reward itself, its per-step metrics and its edge pool: tests/test_grpo.py.
Ray tests run one at a time (each starts its own cluster).
"""

import json
import os
import random
from collections import Counter

import pytest
from omegaconf import OmegaConf

from interplay_verl.data.rl import read_rl_parquet, write_rl_parquet
from interplay_verl.filters.band import (IN_BAND, OUT_OF_REACH, SATURATED, UNSETTLED, Band, StoppingRule, classify,
                                         estimate_pass_at_k)
from interplay_verl.filters.offline import AdaptiveSampling
from interplay_verl.filters.pool import EdgePool, online_config, reward_means
from interplay_verl.problems.contexts import load_context
from interplay_verl.problems.rows import generate_row
from interplay_verl.rewards.composite import compute_score
from interplay_verl.train import rl
from interplay_verl.train.launch import read_metrics
from interplay_verl.train.launch import StageConfigError

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTED = os.path.join(HERE, "assets", "scripted_competence.py")


def _rows(ops, per_op, mode="forward"):
    ctx = load_context("zoo")
    return [generate_row(op, mode, ctx, seed=11, index=i) for op in ops for i in range(per_op)]


# ---------------------------------------------------------------- band, pool, adaptive sampling


def test_band_classifies_by_pass_at_1_and_pass_at_k():
    band = Band(tau_1=0.5, tau_k=0.5, k=4)
    assert classify(8, 8, band) == SATURATED and classify(8, 5, band) == SATURATED
    assert classify(8, 4, band) == IN_BAND  # pass@1 0.5 <= 0.5, pass@4 ~0.99
    assert classify(8, 0, band) == OUT_OF_REACH
    assert estimate_pass_at_k(8, 1, 4) == 0.5  # 1 - C(7,4)/C(8,4), exactly
    assert classify(8, 1, band) == IN_BAND and classify(8, 1, Band(0.5, 0.51, 4)) == OUT_OF_REACH
    assert estimate_pass_at_k(2, 1, 4) == pytest.approx(1 - 0.5 ** 4)  # n < k: plug-in
    with pytest.raises(ValueError, match="tau_1"):
        Band(tau_1=1.5)
    with pytest.raises(ValueError, match="metric"):
        Band(metric="score")


def test_stopping_rule_settles_only_when_sure():
    band, rule = Band(), StoppingRule(n_max=128, give_up_after=64, z=2.0)
    assert rule.decide(8, 0, band) == UNSETTLED
    assert rule.decide(64, 0, band) == OUT_OF_REACH
    assert rule.decide(8, 8, band) == SATURATED  # Wilson lower bound 0.67 > 0.5
    assert rule.decide(4, 1, band) == UNSETTLED  # Wilson upper bound 0.71 > 0.5
    assert rule.decide(8, 1, band) == IN_BAND  # one success settles pass@128; upper bound 0.48 <= 0.5
    assert rule.decide(8, 4, band) == UNSETTLED
    assert rule.decide(128, 64, band) == IN_BAND  # at n_max the fixed rule decides


def test_adaptive_sampling_fixed_mode_draws_n_max():
    band, rule = Band(), StoppingRule(n_max=16, give_up_after=8)
    streams = [[True] * 16, [False] * 16, [False, False, True] + [False] * 13]
    for adaptive, expected_n in ((True, [8, 8, 8]), (False, [16, 16, 16])):
        sampling = AdaptiveSampling(3, band, rule, round_size=4, adaptive=adaptive)
        while todo := sampling.next_round():
            for i, m in todo:
                sampling.record(i, streams[i][sampling.n[i]:sampling.n[i] + m])
        assert sampling.n == expected_n
        assert sampling.state == [SATURATED, OUT_OF_REACH, IN_BAND]


def test_filter_on_the_tiny_model_writes_set_report_and_plot(tmp_path, tiny_model):
    from PIL import Image

    from interplay_verl.filters.offline import main as filter_main
    from interplay_verl.problems.generate import main as generate_main

    rows = str(tmp_path / "rows")
    assert generate_main(["--ops", "2-3", "--tokens", "6000", "--seed", "3", "--out", rows, "--quiet"]) == 0
    common = ["--model", tiny_model, "--rows", rows, "--n-problems", "6", "--max-new-tokens", "8", "--quiet",
              "--n-max", "16", "--k", "16", "--round-size", "4", "--give-up-after", "8", "--backend", "hf"]  # replicas: test_replicas, test_cluster
    # a random model solves nothing: with the default band every problem is out of reach
    out = tmp_path / "strict"
    assert filter_main([*common, "--out", str(out)]) == 2
    report = json.loads((out / "report.json").read_text())
    assert report["kept"] == 0 and report["dropped"] == {"saturated": 0, "out_of_reach": 6}
    assert report["samples_used"] == 6 * 8 and not (out / "rl.parquet").exists()
    # tau_k = 0 keeps every problem the model does not saturate: all six, settled after one round
    out = tmp_path / "loose"
    assert filter_main([*common, "--out", str(out), "--tau-k", "0"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["kept"] == 6 and report["samples_used"] == 6 * 4 and report["samples_saved"] == 6 * (16 - 4)
    assert sum(v["problems"] for v in report["by_op"].values()) == 6
    kept = read_rl_parquet(str(out / "rl.parquet"))
    assert [r["extra_info"]["index"] for r in kept] == list(range(6))
    import pyarrow.parquet as pq

    problems = pq.read_table(str(out / "problems.parquet")).to_pylist()
    assert {p["state"] for p in problems} == {IN_BAND} and [p["n"] for p in problems] == [4] * 6
    assert Image.open(out / "report.png").size[0] > 100
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "edge_filter" and manifest["config"]["band"]["tau_k"] == 0.0
    # --fixed samples every problem n_max times
    out = tmp_path / "fixed"
    assert filter_main([*common, "--out", str(out), "--tau-k", "0", "--fixed"]) == 0
    assert json.loads((out / "report.json").read_text())["samples_used"] == 6 * 16


def test_edge_pool_states_fractions_and_round_trip():
    pool = EdgePool(size=10, band=Band(tau_1=0.9, tau_k=0.5, k=16), min_samples=4)  # z = 0: point estimate
    for _ in range(4):
        pool.update(0, True)   # always solved
        pool.update(1, False)  # never
    for success in (True, False, False, True):
        pool.update(2, success)
    pool.update(3, True)  # too few samples to judge
    assert [pool.state(i) for i in range(5)] == [SATURATED, OUT_OF_REACH, IN_BAND, UNSETTLED, UNSETTLED]
    assert [pool.skip(i) for i in range(4)] == [True, True, False, False]
    assert pool.fractions() == pytest.approx({SATURATED: 0.1, IN_BAND: 0.1, OUT_OF_REACH: 0.1, "unseen": 0.7})
    pool.end_step(1)
    again = EdgePool(10, pool.band, 4)
    again.load_state_dict(json.loads(json.dumps(pool.state_dict())))
    assert again.counts == pool.counts and again.verdicts == pool.verdicts == {0: [1, None], 1: [1, None]}


def test_edge_pool_wants_evidence_before_dropping_a_prompt():
    """At a 10% pass rate, 4 rollouts are all wrong 66% of the time: one such group must not condemn it."""
    band = Band(tau_1=0.9, tau_k=0.5, k=16)
    pool = EdgePool(1, band, min_samples=4, z=1.0)
    fails = 0
    while not pool.skip(0):
        for _ in range(4):
            pool.update(0, False)
        fails += 4
    # the Wilson upper bound of 0/n (z = 1) is 1/(n+1): pass@16 < 0.5 needs it below 1 - 0.5**(1/16) = 0.0424
    assert fails == 24 and pool.state(0) == OUT_OF_REACH
    rng = random.Random(0)
    dropped = 0
    for _ in range(2000):
        pool = EdgePool(1, band, min_samples=4, z=1.0)
        for _group in range(5):  # five groups of a prompt the model solves 10% of the time
            for _ in range(4):
                pool.update(0, rng.random() < 0.1)
            dropped += pool.skip(0)
            if pool.skip(0):
                break
    assert dropped / 2000 < 0.02  # the point estimate (z = 0) drops 66% after the first group
    sure, wins = EdgePool(1, band, min_samples=4, z=1.0), 0
    while not sure.skip(0):
        sure.update(0, True)
        wins += 1
    assert wins == 10 and sure.state(0) == SATURATED  # Wilson lower bound of 10/10 is 0.909, of 9/9 exactly 0.9


def test_edge_pool_verdicts_expire_after_k_steps_or_when_the_op_moves():
    band = Band(tau_1=0.9, tau_k=0.5, k=16)
    # prompts 0, 1 of op 5; prompt 2 of op 6; prompt 3 has no op
    pool = EdgePool(4, band, min_samples=4, retest_every=3, retest_shift=0.15, op_of={0: 5, 1: 5, 2: 6})
    for index, success in [(0, False)] * 4 + [(1, True)] * 2 + [(1, False)] * 2 + [(2, False)] * 4 + [(3, False)] * 4:
        pool.update(index, success)
    pool.end_step(1)
    assert pool.op_rate(5) == pytest.approx(0.25) and pool.op_rate(6) == 0.0 and pool.op_rate(None) is None
    assert pool.verdicts == {0: [1, pytest.approx(0.25)], 2: [1, 0.0], 3: [1, None]}  # op rate: mean of prompt rates
    assert [pool.skip(i) for i in range(4)] == [True, False, True, True]
    # step 2: only prompt 1 is rolled out, and now passes 12 of 12 more: op 5 moves (0 + 14/16) / 2
    for _ in range(12):
        pool.update(1, True)
    pool.end_step(2)
    assert pool.op_rate(5) == pytest.approx((0 + 14 / 16) / 2) and pool.retested == 1
    assert not pool.skip(0) and pool.previous == {0: [4, 0, OUT_OF_REACH]}  # retest pending, evidence held
    assert pool.skip(2) and pool.skip(3)
    pool.end_step(3)
    assert pool.skip(2)  # judged at step 1: not yet 3 steps
    pool.end_step(4)
    assert not pool.skip(2) and not pool.skip(3) and pool.retested == 3 and pool.verdicts == {}
    # a retest group that agrees with the verdict brings the held evidence back: out again at once
    for _ in range(4):
        pool.update(2, False)
    assert pool.counts[2] == [8, 0] and pool.skip(2) and 2 not in pool.previous
    # one that disagrees (the model moved) starts afresh
    pool.update(0, True)
    for _ in range(3):
        pool.update(0, False)
    assert pool.counts[0] == [4, 1] and 0 not in pool.previous and pool.state(0) == IN_BAND
    for _ in range(4):
        pool.update(3, False)  # prompt 3 (no op): its retest agrees too
    pool.end_step(5)
    assert set(pool.verdicts) == {2, 3}
    # samples a fallback batch took anyway can clear a verdict without a retest
    for _ in range(8):
        pool.update(3, True)
    pool.end_step(6)
    assert set(pool.verdicts) == {2} and pool.state(3) == IN_BAND
    again = EdgePool(4, band, 4, op_of={0: 5, 1: 5, 2: 6})
    again.load_state_dict(json.loads(json.dumps(pool.state_dict())))
    assert (again.counts, again.previous, again.rate, again.retested) == (pool.counts, pool.previous, pool.rate, 3)
    assert again.op_rate(5) == pool.op_rate(5)


def test_edge_pool_op_rate_does_not_move_when_the_filter_skips_easy_prompts():
    """A static model: half of an op's prompts saturated, half at 0.4. Skipping the easy half
    changes which prompts are sampled, not the op's rate, so no verdict expires on it."""
    rng = random.Random(1)
    band = Band(tau_1=0.9, tau_k=0.5, k=16)
    pool = EdgePool(40, band, min_samples=4, z=1.0, retest_shift=0.1, op_of={i: 7 for i in range(40)})
    rates = {i: 1.0 if i < 20 else 0.4 for i in range(40)}
    for step in range(1, 41):
        for i in [i for i in range(40) if not pool.skip(i)]:
            for _ in range(4):
                pool.update(i, rng.random() < rates[i])
        pool.end_step(step)
    assert sum(pool.skip(i) for i in range(20)) == 20 and pool.retested == 0
    assert pool.op_rate(7) == pytest.approx(0.7, abs=0.05)


def test_online_config_names_the_bad_key():
    assert online_config({})["band"] == Band(0.9, 0.5, 16, "outcome")
    with pytest.raises(ValueError, match=r"interplay.online_filter: unknown key\(s\) \['tau1'\]"):
        online_config({"interplay": {"online_filter": {"tau1": 0.5}}})
    with pytest.raises(ValueError, match="interplay.online_filter: tau_k=2.0"):
        online_config({"interplay": {"online_filter": {"tau_k": 2.0}}})
    for key, value, what in (("z", -1, "a number >= 0"), ("retest_every", 0, "a whole number of steps"),
                             ("retest_every", 2.5, "a whole number"), ("retest_shift", 0, r"in \(0, 1\]"),
                             ("z", "x", "a number >= 0")):
        with pytest.raises(ValueError, match=f"interplay.online_filter.{key}={value!r}: must be .*{what}"):
            online_config({"interplay": {"online_filter": {key: value}}})
    assert online_config({"interplay": {"online_filter": {"retest_every": None, "retest_shift": None}}})["z"] == 1.0


def test_reward_means_cover_every_numeric_key():
    infos = [{"score": 1.0, "missing": 2.0, "verified": True}, {"score": 0.0, "missing": 0.0, "verified": False}]
    assert reward_means(infos) == {"reward/missing/mean": 1.0, "reward/score/mean": 0.5, "reward/verified/mean": 0.5}
    assert reward_means([]) == {}


# ---------------------------------------------------------------- RL data and config


def test_rl_parquet_round_trip_scores_gold_solutions(tmp_path):
    rows = _rows([2, 3], 2) + _rows([4], 1, mode="reverse")
    path = write_rl_parquet(rows, str(tmp_path / "rl.parquet"))
    records = read_rl_parquet(path)
    assert [r["extra_info"]["index"] for r in records] == [0, 1, 2, 3, 4]
    assert records[0]["prompt"] == [{"role": "user", "content": rows[0]["prompt"]}]
    assert records[0]["prompt"][0]["content"].endswith("<solution>")
    assert records[4]["data_source"] == "interplay/zoo/op4"
    for row, rec in zip(rows, records):
        gold = row["text"].split("<solution>", 1)[1]
        score = compute_score(rec["data_source"], gold, rec["reward_model"]["ground_truth"], rec["extra_info"])
        assert score["score"] == 1.0 and score["verified"] == 1.0
    with pytest.raises(ValueError, match="no rows"):
        write_rl_parquet([], str(tmp_path / "empty.parquet"))


def test_config_errors_name_the_key_before_ray(tmp_path, tiny_model):
    train = write_rl_parquet(_rows([2], 2), str(tmp_path / "rl.parquet"))
    cases = [
        (["reward.custom_reward_function.reward_kwargs.variant=gatd"], "variant='gatd'"),
        (["interplay.online_filter.tau_1=3"], "interplay.online_filter: tau_1=3"),
        (["+interplay.online_filter.taus=1"], r"unknown key\(s\) \['taus'\]"),
        (["actor_rollout_ref.rollout.nn=4"], "verl rejects the overrides"),
        (["actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=null"], "verl's config validation: .*micro_batch"),
    ]
    for extra, message in cases:
        with pytest.raises(StageConfigError, match=message):
            rl.check_config("interplay_grpo_cpu", rl.rl_overrides(tiny_model, train, train, str(tmp_path / "o"), extra=extra), "cpu")
    with pytest.raises(StageConfigError, match="data.train_files: .*missing.parquet does not exist"):
        rl.check_config("interplay_grpo_cpu", rl.rl_overrides(tiny_model, str(tmp_path / "missing.parquet"), train, str(tmp_path)), "cpu")
    # rows without their own extra_info.index: verl would silently give them all index 0
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = pq.read_table(train).to_pylist()
    for row in rows:
        del row["extra_info"]["index"]
    no_index = str(tmp_path / "no_index.parquet")
    pq.write_table(pa.Table.from_pylist(rows), no_index)
    with pytest.raises(StageConfigError, match=r"data.train_files: .*no_index.parquet: 2 row\(s\) without extra_info.index"):
        rl.check_config("interplay_grpo_cpu", rl.rl_overrides(tiny_model, no_index, train, str(tmp_path)), "cpu")
    for row in rows:
        row["extra_info"]["index"] = 7
    same = str(tmp_path / "same_index.parquet")
    pq.write_table(pa.Table.from_pylist(rows), same)
    with pytest.raises(StageConfigError, match="extra_info.index repeats"):
        rl.check_config("interplay_grpo_cpu", rl.rl_overrides(tiny_model, same, train, str(tmp_path)), "cpu")
    # without the online filter the index is not needed
    rl.check_config("interplay_grpo_cpu", rl.rl_overrides(tiny_model, no_index, train, str(tmp_path),
                                                          extra=["trainer.v1.trainer_mode=sync"]), "cpu")


def test_auto_micro_batches_divide_every_batch(tmp_path, tiny_model):
    """The CPU config's micro-batches are a PPO mini-batch per rank where it fits: verl asserts that
    every batch is a multiple of its micro-batch, which a fixed 32 broke for batches of 16 and 24."""
    train = write_rl_parquet(_rows([2], 2), str(tmp_path / "rl.parquet"))
    keys = list(rl.AUTO_MICRO_BATCH)

    def chosen(extra, n_workers=1):
        filled = []
        cfg = rl.check_config("interplay_grpo_cpu", rl.rl_overrides(tiny_model, train, train, str(tmp_path / "o"),
                                                                     extra=extra), "cpu", n_workers, filled)
        return [OmegaConf.select(cfg, k) for k in keys], filled

    assert chosen([]) == ([32, 32, 32], [f"{k}=32" for k in keys])  # the tiny profile's 8 x 4
    assert chosen(["data.train_batch_size=6", "actor_rollout_ref.actor.ppo_mini_batch_size=6"])[0] == [24, 24, 24]
    # a divisor of the mini-batch, which divides every step's batch as verl pads it (12 x 4 -> 64)
    assert chosen(["data.train_batch_size=8", "actor_rollout_ref.actor.ppo_mini_batch_size=4"])[0] == [16, 16, 16]
    assert chosen(["data.train_batch_size=12", "actor_rollout_ref.actor.ppo_mini_batch_size=8"])[0] == [32, 32, 32]
    assert chosen([], n_workers=2)[0] == [16, 16, 16]  # per rank
    # at most AUTO_MICRO_BATCH_TOKENS padded tokens: 32,768 // (384 + 192) = 56, the largest divisor of 64 is 32
    assert chosen(["data.train_batch_size=16", "actor_rollout_ref.actor.ppo_mini_batch_size=16"])[0] == [32, 32, 32]
    # an explicit number is kept and nothing is filled for it
    assert chosen(["actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=8"]) == ([8, 32, 32], [f"{k}=32" for k in keys[1:]])


def test_paper_config_composes_with_the_papers_settings(tmp_path):
    cfg = rl.check_config("interplay_grpo", rl.rl_overrides("m", __file__, __file__, str(tmp_path)), "gpu", n_workers=8)
    actor, rollout = cfg.actor_rollout_ref.actor, cfg.actor_rollout_ref.rollout
    assert cfg.algorithm.adv_estimator == "grpo" and rollout.name == "vllm" and rollout.n == 6
    assert cfg.data.train_batch_size == 1024 and actor.ppo_mini_batch_size == 256
    assert actor.optim.lr == 1e-6 and actor.use_kl_loss and actor.kl_loss_coef == 0.001
    assert actor.kl_loss_type == "low_var_kl" and actor.clip_ratio == 0.2 and actor.entropy_coeff == 0
    assert rollout.temperature == 1.0 and cfg.data.max_prompt_length == 1024 == cfg.data.max_response_length
    assert cfg.trainer.total_training_steps == 200 and cfg.trainer.n_gpus_per_node == 8
    assert cfg.reward.custom_reward_function.path == "pkg://interplay_verl.rewards.composite"
    assert dict(cfg.reward.custom_reward_function.reward_kwargs) == {"variant": "gated", "alpha": 0.2,
                                                                     "semantics": "interplay"}
    assert cfg.reward.reward_manager.name == "interplay"  # verl's naive manager, decoding with the tags kept
    assert cfg.trainer.v1.trainer_mode == "interplay_edge"
    assert cfg.trainer.save_freq == 20 and rollout.tensor_model_parallel_size == 1


def test_the_rl_command_line_never_validates_on_its_training_prompts():
    def settings(*argv):
        args, extra = rl.build_parser().parse_known_args(["--model", "m", "--train", "t.parquet", "--out", "o", *argv])
        return rl.cli_settings(args, extra)

    device, workers, extra = settings("--config-name", "interplay_grpo", "--nnodes", "2", "trainer.save_freq=5")
    assert (device, workers) == ("gpu", 1)  # no GPU visible here: one worker, not a silent 8
    assert extra == ["trainer.nnodes=2", "trainer.val_before_train=False", "trainer.test_freq=-1", "trainer.save_freq=5"]
    device, workers, extra = settings("--val", "held_out.parquet", "--n-workers", "4")
    assert (device, workers, extra) == ("cpu", 4, ["trainer.nnodes=1"])  # a held-out set: verl validates on it


# ---------------------------------------------------------------- GRPO runs (Ray; one at a time)


@pytest.mark.slow  # verl GRPO runs
def test_online_filter_drops_saturated_and_out_of_reach_prompts(tmp_path, tiny_model):
    rows = _rows([2, 11, 20], 4)
    train = write_rl_parquet(rows, str(tmp_path / "train.parquet"))
    log = tmp_path / "rewards.log"
    out = str(tmp_path / "rl")
    rl.run("interplay_grpo_cpu", tiny_model, train, train, out, "cpu", timeout=900, extra_env={"SCRIPTED_REWARD_LOG": str(log)},
           extra=["trainer.total_training_steps=6", "data.train_batch_size=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4",
                  "data.max_prompt_length=1024", "data.max_response_length=8",
                  f"reward.custom_reward_function.path={SCRIPTED}", "interplay.online_filter.z=0"])
    calls = [tuple(map(int, line.split())) for line in log.read_text().split("\n") if line]
    per_step = 4 * 4  # prompts x rollouts
    assert len(calls) == 6 * per_step
    first_epoch, later = calls[:3 * per_step], calls[3 * per_step:]
    assert Counter(op for op, _ in first_epoch) == {2: 16, 11: 16, 20: 16}  # every prompt once
    assert {op for op, _ in later} == {11}  # op 2 (saturated) and op 20 (out of reach) left the pool
    assert Counter(index for _, index in later) == {i: 12 for i in range(4, 8)}  # every op-11 prompt, each step
    logged = {m["step"]: m["data"] for m in read_metrics(os.path.join(out, "metrics", "run-00.jsonl"))}
    assert sorted(logged) == [1, 2, 3, 4, 5, 6]  # training went on with full batches
    last = logged[6]
    assert last["edge/saturated"] == pytest.approx(4 / 12) and last["edge/out_of_reach"] == pytest.approx(4 / 12)
    assert last["edge/in_band"] == pytest.approx(4 / 12) and last["edge/fallbacks"] == 0
    assert all(logged[s]["edge/skipped_prompts"] > 0 for s in (4, 5, 6))
    assert last["reward/outcome/mean"] == pytest.approx(0.5)  # op 11 groups: half solved
    with open(os.path.join(out, "checkpoints", "global_step_6", "edge_pool.json")) as f:
        pool = json.load(f)
    # each prompt's rate from the trainer's rollouts; its op (extra_info.op) groups them into op rates
    assert [pool["rate"][str(i)] for i in range(12)] == [1.0] * 4 + [0.5] * 4 + [0.0] * 4
    assert pool["retested"] == last["edge/retested_total"] == 0
    assert sorted(map(int, pool["verdicts"])) == [0, 1, 2, 3, 8, 9, 10, 11]  # op 2 and op 20, judged in epoch 1


@pytest.mark.slow  # verl GRPO runs
def test_online_filter_composes_with_verl_dapo_filter(tmp_path, tiny_model):
    """With algorithm.filter_groups on, verl evicts the equal-reward groups before a step sees them;
    the pool learns from the evicted groups, so later batches skip those prompts before generation."""
    train = write_rl_parquet(_rows([2, 11, 20], 4), str(tmp_path / "train.parquet"))
    log = tmp_path / "rewards.log"
    out = str(tmp_path / "rl")
    rl.run("interplay_grpo_cpu", tiny_model, train, train, out, "cpu", timeout=900, extra_env={"SCRIPTED_REWARD_LOG": str(log)},
           extra=["trainer.total_training_steps=6", "data.train_batch_size=4", "actor_rollout_ref.actor.ppo_mini_batch_size=4",
                  "data.max_prompt_length=1024", "data.max_response_length=8",
                  f"reward.custom_reward_function.path={SCRIPTED}",
                  "algorithm.filter_groups.enable=True", "algorithm.filter_groups.metric=outcome",
                  "interplay.online_filter.z=0"])
    calls = [tuple(map(int, line.split())) for line in log.read_text().split("\n") if line]
    logged = {m["step"]: m["data"] for m in read_metrics(os.path.join(out, "metrics", "run-00.jsonl"))}
    assert sorted(logged) == [1, 2, 3, 4, 5, 6]
    assert sum(d.get("training/filter_groups/evicted_samples", 0) for d in logged.values()) >= 8  # verl's DAPO ran
    last = logged[6]
    assert last["edge/saturated"] == pytest.approx(4 / 12) and last["edge/out_of_reach"] == pytest.approx(4 / 12)
    assert {op for op, _ in calls[-3 * 16:]} == {11}  # the last three steps generated op 11 only
    # each op-2 / op-20 prompt is rolled out once, plus at most a re-roll of prompts DAPO's refill had
    # dispatched (epoch 2 starts during step 1) before their first group finished and taught the pool
    ops = Counter(op for op, _ in calls)
    assert 16 <= ops[2] < 2 * 16 and 16 <= ops[20] < 2 * 16, ops
    assert all(d["reward/outcome/mean"] == pytest.approx(0.5) for d in logged.values())  # trained on op 11 only
