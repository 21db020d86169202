"""``interplay-verl study``: study files, expressions, the paper's protocol per arm, shared stages, figures."""

import json
import os
import subprocess
import sys
from typing import Optional

import pytest
import yaml

from interplay_verl.pipeline.config import PipelineConfigError
from interplay_verl.pipeline.study import (STUDIES_DIR, compose, evaluate_expression, plan, read_study, substitute,
                                           with_upstream)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUDIES = ("extrapolation", "context", "compute", "reward")


def study_path(name: str) -> str:
    return os.path.join(STUDIES_DIR, f"{name}.yaml")


def write_study(tmp_path, body: dict, name: str = "s.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body))
    return str(path)


SMOKE = os.path.join(ROOT, "recipes", "profiles", "smoke.yaml")


def minimal(common: Optional[dict] = None, **extra) -> dict:
    """A study of one arm, evaluating ops 2..M+10 as the real ones do (the smoke profile's own 2-7
    would not hold its RL ops)."""
    return {"name": "t", "scales": {"smoke": {"profile": SMOKE, "vars": {"M": 4}}},
            "common": {"evaluate.splits": ["2-{M}", "{M + 1}-{M + 4}", "{M + 5}-{M + 10}"], **(common or {})},
            "arms": {"a": {"filter.ops": "{M + 1}-{M + 4}"}}, **extra}


# ------------------------------------------------------------------ expressions
def test_expressions_are_arithmetic_over_names_only():
    names = {"M": 10, "f": 0.2, "N": 954, "mix": ["2-4", "5-7"]}
    assert evaluate_expression("M + 1", names) == 11
    assert evaluate_expression("max(387, round(f * N / 954 * 38693 / 387) * 387)", names) == 7740
    assert evaluate_expression("int((1 - f) * N)", names) == 763 and evaluate_expression("-M // 3", names) == -4
    assert evaluate_expression("mix[1]", names) == "5-7"
    assert substitute("{M + 1}-{M + 4}", names) == "11-14" and substitute("{M}", names) == 10
    assert substitute(["steps={int(N / 2)}", 3], names) == ["steps=477", 3] and substitute("{f * 5}", names) == 1.0
    assert substitute("zoo:{1 - 0.01},school:0.01", names) == "zoo:0.99,school:0.01"
    with pytest.raises(ValueError, match=r"unknown name 'K' \(known: M, N, f, mix\)"):
        evaluate_expression("K + 1", names)
    for bad in ("__import__('os')", "M.real", "[1, 2]", "open('x')"):
        with pytest.raises(ValueError, match="is not arithmetic over names"):
            evaluate_expression(bad, names)
    with pytest.raises(ValueError, match="not an expression"):
        evaluate_expression("M +", names)
    for bad, why in (("mix[5]", "IndexError"), ("mix + 1", "is not a number"), ("max()", "is not arithmetic"),
                     ("9 ** 9 ** 9", "a power too large"), ("True + 1", "is not arithmetic"),
                     ("mix * 10", "is not a number"), ("mix[f]", "index a list variable with a whole number")):
        with pytest.raises(ValueError, match=why):
            evaluate_expression(bad, names)
    assert substitute("zoo:{1 - 0.07},school:0.07", names) == "zoo:0.93,school:0.07"  # no float noise
    assert substitute({"school": "{M - 8}"}, names) == {"school": 2}


# ------------------------------------------------------------------ reading a study
def test_arms_expand_over_common_grid_and_scale(tmp_path):
    body = minimal(common={"rl.variant": "outcome", "filter.enable": False},
                   grid=[{"values": {"f": [0.2, 0.8], "N": [10, 20]},
                          "arms": {"mid{f}_N{N}": {"rl.steps": "{round((1 - f) * N)}", "label": "N={N}"}}}])
    body["scales"]["paper"] = {"profile": SMOKE, "vars": {"M": 10}, "grid": {"N": [954]}}
    study = read_study(write_study(tmp_path, body), "smoke")
    # (yaml.safe_dump sorts keys: N varies slowest)
    assert [a.name for a in study.arms] == ["a", "mid0.2_N10", "mid0.8_N10", "mid0.2_N20", "mid0.8_N20"]
    assert study.arms[0].settings == {"evaluate.splits": ["2-4", "5-8", "9-14"], "rl.variant": "outcome",
                                      "filter.enable": False, "filter.ops": "5-8"}
    assert study.arms[0].own == ["filter.ops"] and study.arms[0].point == {}
    assert study.arms[2].settings["rl.steps"] == 2 and study.arms[2].label == "N=10"
    assert study.arms[2].point == {"f": 0.8, "N": 10}
    paper = read_study(write_study(tmp_path, body), "paper")  # the scale's grid replaces N's values
    assert [a.name for a in paper.arms] == ["a", "mid0.2_N954", "mid0.8_N954"]
    assert paper.arms[0].settings["filter.ops"] == "11-14" and paper.vars == {"M": 10}


def test_a_scales_common_settings_come_after_the_files_and_before_the_arms(tmp_path):
    body = minimal(common={"rl.variant": "outcome", "rl.overrides+": ["a=1"]})
    body["arms"]["a"].update({"rl.variant": "strict"})
    body["arms"]["b"] = {"filter.ops": "2-4"}
    body["scales"]["smoke"]["common"] = {"evaluate.splits": ["2-{M}", "{M + 1}-{M + 4}"], "rl.variant": "gated",
                                         "rl.overrides+": ["b=2"]}
    study = read_study(write_study(tmp_path, body), "smoke")
    a, b = study.arms
    assert a.settings["evaluate.splits"] == b.settings["evaluate.splits"] == ["2-4", "5-8"]
    assert (a.settings["rl.variant"], b.settings["rl.variant"]) == ("strict", "gated")
    assert b.settings["rl.overrides+"] == ["a=1", "b=2"]  # appended to, as an arm's own appends are
    assert a.own == ["filter.ops", "rl.variant"]  # the scale's settings are not the arm's own


@pytest.mark.parametrize("change,message", [
    (lambda b: b.update(arm={"x": 1}), r"top level: unknown key\(s\) \['arm'\]"),
    (lambda b: b["arms"]["a"].update(stages=["pretrain", "finetune"]), r"arms.a.stages: unknown stage\(s\) \['finetune'\]"),
    (lambda b: b["arms"]["a"].update(compare_to="nope"), r"arms.a.compare_to: 'nope' is not an arm at scale smoke"),
    (lambda b: b["arms"]["a"].update({"filter.ops": "{K}"}), r"arms.a.filter.ops: \{K\}: unknown name 'K'"),
    (lambda b: b["arms"]["a"].update({"rl.steps": "{M / 0}"}), r"arms.a.rl.steps: \{M / 0\}: ZeroDivisionError"),
    (lambda b: b["scales"]["smoke"].update(grid={"Q": [1]}), r"scales.smoke.grid: \['Q'\] are not grid variables"),
    (lambda b: b["scales"]["smoke"].update(common={"rl.steps": "{K}"}), r"scales.smoke.common.rl.steps: \{K\}: unknown"),
    (lambda b: b["scales"]["smoke"].update(settings={}), r"scales.smoke: needs `profile` and may have vars, grid, arms, common"),
    (lambda b: b.update(figures=["pie_chart"]), r"figures: unknown figure\(s\) \['pie_chart'\]"),
    (lambda b: b.update(findings=["rl_is_magic"]),
     r"findings: unknown finding\(s\) \['rl_is_magic'\]; findings are edge_of_competence, "),
    (lambda b: b["scales"]["smoke"].update(arms=["b"]), r"scales.smoke.arms: \['b'\] are not arms"),
    (lambda b: b.update(grid={"values": {"f": []}, "arms": {"g{f}": {}}}), "grid.values.f: must be a non-empty list"),
])
def test_a_bad_study_file_names_the_place(tmp_path, change, message):
    body = minimal()
    change(body)
    with pytest.raises(PipelineConfigError, match=message):
        read_study(write_study(tmp_path, body), "smoke")
    with pytest.raises(PipelineConfigError, match=r"no scale 'paper'; this study defines \['smoke'\]"):
        read_study(write_study(tmp_path, minimal()), "paper")


@pytest.mark.parametrize("setting,message", [
    ({"rl.varient": "strict"}, r"arm a: rl.varient: unknown key 'rl.varient'; rl has \['alpha', "),
    ({"filter.ops": "11-14_pluss"}, r"arm a: filter.ops: mixture '11-14_pluss': not a preset"),
    ({"pretrain.ops": "2:0.5,3:0.4"}, r"arm a: pretrain.ops: mixture '2:0.5,3:0.4': weights sum to 0.9, not 1"),
    ({"data.contexts": "zoo:0.9,school:0.2"}, r"arm a: data.contexts: contexts 'zoo:0.9,school:0.2': weights sum"),
    ({"rl.start_step": 3}, r"arm a: rl.start_step=3: mid-training saves every 10 steps"),
    ({"rl.overrides+": "x=1"}, r"arm a: rl.overrides\+: appends a list to a list setting"),
    ({"filter.ops": "1-4"}, r"arm a: filter.ops='1-4': ops must lie in 2..40"),
    ({"filter.ops": "13-16"}, r"arm a: filter.ops='13-16': RL validates on held-out problems .* at op \[15, 16\]"),
    ({"midtrain.overrides": ["trainer.total_training_steps=10", "trainer.save_freq=1", "trainer.max_ckpt_to_keep=2"],
      "rl.start_step": 5}, r"arm a: rl.start_step=5: mid-training keeps only its last 2 checkpoints"),
])
def test_a_bad_arm_fails_before_any_stage(tmp_path, setting, message):
    body = minimal()
    body["arms"]["b"] = dict(body["arms"]["a"])
    body["arms"]["a"].update(setting)
    study = read_study(write_study(tmp_path, body), "smoke")
    with pytest.raises(PipelineConfigError, match=message):
        compose(study, environ={})
    proc = subprocess.run([sys.executable, "-m", "interplay_verl.cli", "study", write_study(tmp_path, body),
                           "--scale", "smoke", "--out", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "VERL_PLATFORM": "cpu"})
    assert proc.returncode == 2 and "configuration error" in proc.stderr and not (tmp_path / "out").exists()


def test_list_settings_append_and_stages_take_their_upstream(tmp_path):
    body = minimal(common={"rl.overrides+": ["trainer.save_freq=1"]})
    body["arms"]["a"].update({"rl.overrides+": ["trainer.save_freq=2"], "stages": ["candidates"]})
    study = read_study(write_study(tmp_path, body), "smoke")
    cfg = compose(study, environ={})["a"]
    # the smoke profile's overrides kept, then common's append, then the arm's
    assert cfg.rl.overrides[-2:] == ["trainer.save_freq=1", "trainer.save_freq=2"] and len(cfg.rl.overrides) > 2
    assert study.arms[0].stages == ["candidates"]
    assert with_upstream(["candidates"]) == ["eval_sets", "data", "tokenizer", "mid_data", "candidates"]


# ------------------------------------------------------------------ the four studies
@pytest.fixture(scope="module")
def paper_scale():
    """Every study composed at the paper's scale (each arm checked against verl's schema)."""
    studies = {}
    for name in STUDIES:
        study = read_study(study_path(name), "paper")
        compose(study, environ={})
        studies[name] = study
    return studies


def flat(cfg) -> dict:
    from dataclasses import asdict

    out = {}

    def walk(prefix, value):
        if isinstance(value, dict) and prefix.count(".") < 1:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            out[prefix] = value

    walk("", asdict(cfg))
    return out


def test_paper_arms_follow_the_paper_protocol(paper_scale):
    """RL from the base (or, in the compute study, a checkpoint of the one mid-training run), the
    study's reward, every candidate of an op range (no offline or online filter)."""
    from interplay_verl.problems.mixtures import op_weights

    rewards = {"extrapolation": {"outcome"}, "context": {"outcome", "strict"}, "compute": {"strict"},
               "reward": {"outcome", "gated", "strict"}}
    for name, study in paper_scale.items():
        paper_arms = [a for a in study.arms if not a.compare_to]
        assert paper_arms and len(paper_arms) < len(study.arms), name
        for arm in paper_arms:
            cfg = study.configs[arm.name]
            where = f"{name}/{arm.name}"
            assert not cfg.filter.enable and not cfg.rl.online_filter, where
            assert cfg.rl.variant in rewards[name], where
            ops = op_weights(cfg.filter.ops)
            assert ops == {op: 1 / len(ops) for op in range(min(ops), max(ops) + 1)}, where  # a uniform op range
            assert cfg.filter.candidates_per_op * len(cfg.filter.modes) >= 12000, where  # the paper's scale of RL data
            if name == "compute" and cfg.midtrain.enable:
                assert cfg.rl.start_step > 0 and cfg.midtrain.ops == "cpt0.2-uniform_0.8-11-14", where
            else:
                assert not cfg.midtrain.enable, where  # RL from the pre-trained base
            if name in ("reward",):
                assert cfg.rl.semantics == "paper", where
    ranges = {a.name: study.configs[a.name].filter.ops for study in [paper_scale["extrapolation"]] for a in study.arms}
    assert ranges["id_top"] == "7-10" and ranges["straddle"] == "9-12" and ranges["edge"] == "11-14"
    assert ranges["far"] == "17-20"
    compute = paper_scale["compute"]
    start = {a.name: compute.configs[a.name].rl.start_step for a in compute.arms}
    steps = {a.name: compute.configs[a.name].rl.steps for a in compute.arms}
    # the paper's checkpoint table (387-step save points of its 38,693-step run)
    assert (start["mid0.2_N50"], start["mid0.8_N100"], start["mid0.2_N954"], start["mid0.5_N300"]) == (387, 3096, 7740, 6192)
    assert steps["mid0.2_N100"] == 80 and steps["full_rl_N954"] == 954 and len(compute.arms) == 37


def test_the_small_scale_runs_the_arms_its_findings_need():
    """The arms its findings read, and one arm per study checked against verl's schema here, not
    after hours of runs (every arm of a study shares the profile and the common settings)."""
    from interplay_verl.findings import FINDINGS

    composed = {}
    for name in STUDIES:
        study = read_study(study_path(name), "small")
        claim, checks = FINDINGS[study.findings[0]](study, 16)
        needed = {arm for c in checks for arm, _ in (c.after, c.before)}
        assert needed <= {a.name for a in study.arms}, name
        study.arms = [a for a in study.arms if a.name in ("mid0.8_N48", "f1_b0.01_rlB", "edge", "process0.8")]
        composed.update(compose(study, environ={}))
    for arm, cfg in composed.items():
        assert (cfg.evaluate.per_op, cfg.evaluate.n_samples, cfg.model.size) == (24, 16, "1.2m"), arm
        assert cfg.rl.steps == (10 if arm == "mid0.8_N48" else 48), arm
    mid = composed["mid0.8_N48"]
    assert mid.midtrain.overrides[-3:] == ["trainer.total_training_steps=1360", "trainer.save_freq=40",
                                           "trainer.max_ckpt_to_keep=null"]
    assert "optim.lr=1e-3" in mid.midtrain.overrides  # the profile's own, kept (appended to, not replaced)
    assert (mid.rl.start_step, mid.rl.steps) == (1080, 10)  # 0.8 of the run (1,088) on a save point, then 0.2 RL


def test_a_report_reads_each_evaluation_where_the_pipeline_writes_it(tmp_path):
    from interplay_verl.pipeline import Pipeline
    from interplay_verl.pipeline.config import load
    from interplay_verl.pipeline.stages import _evaluation_dir
    from interplay_verl.study_report import evaluation_dir

    run = Pipeline(load(SMOKE, environ={}), out=str(tmp_path / "arm"))
    wrote = {name: os.path.relpath(_evaluation_dir(run, name), run.out) for name in ("base", "mid", "rl")}
    assert wrote == {"base": "eval_base", "mid": "eval_mid", "rl": os.path.join("evaluate", "rl")}
    assert {name: os.path.relpath(evaluation_dir(run.out, name), run.out) for name in wrote} == wrote


def test_report_only_reads_the_finished_stages_and_runs_nothing(tmp_path, capsys):
    """A study part way through: the edge arm's base evaluated, its RL evaluation still being
    written, and a link left from an earlier configuration's RL evaluation; the other arm not started."""
    import pandas as pd

    from interplay_verl.manifest import record_stage
    from interplay_verl.pipeline.study import main

    out, study = tmp_path / "study", read_study(study_path("extrapolation"), "smoke")
    keys = plan(study, compose(study, environ={}), str(out))["edge"]["keys"]

    def stage(name: str, key: str, sub: str, solved: int, finished: bool = True) -> str:
        where = out / "stages" / f"{name}-{key}"
        rows = [{"id": f"{op}-p{i}", "op": op, "context": "zoo", "outcome": solved * (s == 0), "verified": 0}
                for op in (5, 6, 7, 8) for i in range(10) for s in range(2)]
        os.makedirs(where / sub)
        pd.DataFrame(rows).to_parquet(where / sub / "samples.parquet")
        if finished:
            record_stage(str(where), {"stage": name, "key": key, "settings": {}, "seconds": 1.0})
        return str(where)

    def report() -> dict:
        assert main([study_path("extrapolation"), "--scale", "smoke", "--out", str(out), "--report-only"]) == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["report"] == str(out / "report" / "report.md")
        return json.loads((out / "report" / "report.json").read_text())["findings"][0]

    stage("eval_base", keys["eval_base"], "", 0)
    old = stage("evaluate", "an-earlier-configuration", "rl", 1)
    os.makedirs(out / "arms" / "edge")
    os.symlink(os.path.relpath(old, out / "arms" / "edge"), out / "arms" / "edge" / "evaluate")
    stage("evaluate", keys["evaluate"], "rl", 1, finished=False)
    found = report()
    assert not any(c["run"] for c in found["checks"]) and found["notes"][0] == "0 of 6 checks ran"
    arm = out / "arms" / "edge"
    assert sorted(os.listdir(arm)) == ["eval_base"]  # the earlier configuration's link is gone
    assert os.path.realpath(arm / "eval_base") == str(out / "stages" / f"eval_base-{keys['eval_base']}")
    assert os.listdir(out / "arms" / "edge_ours") == ["eval_base"]  # not started, but it shares the base
    assert sorted(os.listdir(out)) == ["arms", "report", "stages"] and len(os.listdir(out / "stages")) == 3  # ran nothing

    record_stage(str(out / "stages" / f"evaluate-{keys['evaluate']}"),
                 {"stage": "evaluate", "key": keys["evaluate"], "settings": {}, "seconds": 1.0})
    ran = [c for c in report()["checks"] if c["run"]]  # the RL evaluation finished: now it is read
    assert [(c["after"], c["before"], c["change"], c["holds"]) for c in ran] == [(0.5, 0.0, 0.5, True)]


def test_our_arms_differ_from_their_paper_arm_only_where_they_say(paper_scale):
    checked = 0
    for name, study in paper_scale.items():
        for arm in study.arms:
            if not arm.compare_to:
                continue
            ours, theirs = flat(study.configs[arm.name]), flat(study.configs[arm.compare_to])
            differs = sorted(k for k in ours if ours[k] != theirs[k] and k != "out")
            assert differs and set(differs) <= set(arm.own), (name, arm.name, differs, arm.own)
            checked += 1
    assert checked == 4


def test_a_study_shares_the_base_between_arms(paper_scale, tmp_path):
    study = paper_scale["extrapolation"]
    arms = plan(study, study.configs, str(tmp_path))
    assert arms["id_top"]["shared_with"] == {}
    assert set(arms["edge"]["shared_with"]) >= {"eval_sets", "data", "tokenizer", "corpus", "init", "pretrain"}
    assert "candidates" not in arms["edge"]["shared_with"]  # another op range
    assert arms["edge_ours"]["shared_with"]["candidates"] == "edge"  # same candidates, its own filter and RL
    assert "pretrain" not in arms["headroom0_edge"]["shared_with"]  # another pre-training mixture
    compute = paper_scale["compute"]
    shared = plan(compute, compute.configs, str(tmp_path))
    owner = "mid0.5_full_ours"  # the file's first arm with mid-training
    assert {shared[a]["shared_with"].get("midtrain") for a in shared if a != owner} == {owner, None}
    assert shared["mid0.8_N954"]["shared_with"]["midtrain"] == owner  # one mid-training run for all
    assert "midtrain" not in shared[owner]["shared_with"] and "midtrain" not in shared["full_rl_N50"]["shared_with"]


# ------------------------------------------------------------------ end to end at smoke scale (Ray; one at a time)
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One stage store for the four smoke studies: a base made by one study is reused by the next."""
    return tmp_path_factory.mktemp("study_store")


def run_study(name: str, out, store) -> subprocess.CompletedProcess:
    env = dict(os.environ, VERL_PLATFORM="cpu", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run([sys.executable, "-m", "interplay_verl.cli", "study", study_path(name), "--scale", "smoke",
                           "--out", str(out), "--store", str(store), "--quiet"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def check_figures(out, figures: list[str]) -> None:
    from PIL import Image

    report = json.loads((out / "report" / "report.json").read_text())
    assert sorted(report["figures"]) == sorted(figures)
    for name in figures:
        assert Image.open(out / "report" / f"{name}.png").size[0] > 300
        lines = (out / "report" / f"{name}.csv").read_text().splitlines()
        assert len(lines) > 1 and report["figures"][name]["rows"] == len(lines) - 1
    assert "![" in (out / "report" / "report.md").read_text()
    from interplay_verl.findings import VERDICTS

    assert len(report["findings"]) == 1 and report["findings"][0]["verdict"] in VERDICTS  # the study's one claim
    assert "## Findings" in (out / "report" / "report.md").read_text()


@pytest.mark.slow  # two GRPO runs and their evaluations
def test_extrapolation_at_smoke_scale_shares_the_base(tmp_path, store):
    out = tmp_path / "extrapolation"
    proc = run_study("extrapolation", out, store)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    edge, ours = summary["arms"]["edge"]["seconds"], summary["arms"]["edge_ours"]["seconds"]
    assert "pretrain" in edge and "rl" in edge and "filter" not in edge  # the paper's arm: no filter
    assert set(ours) == {"filter", "rl", "evaluate", "report"}  # base, its evaluation and candidates shared
    assert os.path.realpath(out / "arms" / "edge" / "pretrain") == os.path.realpath(out / "arms" / "edge_ours" / "pretrain")
    assert os.path.realpath(out / "arms" / "edge" / "rl") != os.path.realpath(out / "arms" / "edge_ours" / "rl")
    check_figures(out, ["passk_by_op"])
    rows = (out / "report" / "passk_by_op.csv").read_text().splitlines()
    assert {line.split(",")[1] for line in rows[1:]} == {"base", "rl"}
    # one base (op 2-14: ID, OOD-edge and OOD-hard relative to M = 4; k = 1, 2), drawn once
    assert sum(line.startswith("edge,base") for line in rows) == 13 * 2
    assert sum(line.startswith("edge_ours,base") for line in rows) == 0
    edge_vs_base = json.loads((out / "report" / "report.json").read_text())["findings"][0]["checks"][0]
    assert edge_vs_base["run"] and edge_vs_base["problems"] == 4 * 1  # op 5-8, one problem each at smoke
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "study" and manifest["plan"]["edge_ours"]["shared_with"]["pretrain"] == "edge"
    again = run_study("extrapolation", out, store)  # done: nothing runs again
    assert all(not arm["seconds"] for arm in json.loads(again.stdout.strip().splitlines()[-1])["arms"].values())


@pytest.mark.slow  # a GRPO run from a checkpoint of the shared mid-training run
def test_compute_at_smoke_scale_starts_rl_from_a_mid_training_checkpoint(tmp_path, store):
    out = tmp_path / "compute"
    had_base = any(store.glob("pretrain-*"))  # made by the extrapolation study, when it ran first
    proc = run_study("compute", out, store)
    seconds = json.loads(proc.stdout.strip().splitlines()[-1])["arms"]["mid0.8_N4"]["seconds"]
    assert "midtrain" in seconds and ("pretrain" not in seconds) == had_base
    rl = json.loads((out / "arms" / "mid0.8_N4" / "rl" / "manifest.json").read_text())
    assert rl["config"]["model"].endswith(os.path.join("checkpoints", "global_step_8", "huggingface"))
    assert rl["result"]["steps"] == 1  # round((1 - 0.8) * 4)
    check_figures(out, ["compute_allocation"])


@pytest.mark.slow  # a GRPO run
def test_reward_at_smoke_scale_draws_error_curves(tmp_path, store):
    out = tmp_path / "reward"
    run_study("reward", out, store)
    check_figures(out, ["reward_errors"])
    rows = (out / "report" / "reward_errors.csv").read_text().splitlines()
    assert rows[0] == "arm,step,missing,extra,wrong_value,wrong_parents,outcome - verified" and len(rows) == 1 + 3


@pytest.mark.slow  # pre-training with context B, a GRPO run on B
def test_context_at_smoke_scale_draws_transfer(tmp_path, store):
    out = tmp_path / "context"
    run_study("context", out, store)
    check_figures(out, ["context_transfer"])
    import csv

    with open(out / "report" / "context_transfer.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["arm"], r["checkpoint"]) for r in rows] == [("f1_b0.01_rlB", "base"), ("f1_b0.01_rlB", "rl")]
    assert [r["share"] for r in rows] == ["0.01", "0.01"]  # B's share in pre-training
    assert rows[1]["line"] == "family 1, RL school, outcome"


def test_reward_curves_draw_each_step_and_a_trailing_mean(tmp_path):
    from PIL import Image

    from interplay_verl.plots import study_reward_curves, trailing_mean

    assert trailing_mean([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert trailing_mean([2.0, 4.0], 8) == [2.0, 3.0]  # fewer than the window at the start
    curves = {"outcome": {"missing": [(s, s % 3) for s in range(1, 21)]}}
    png = study_reward_curves(curves, str(tmp_path / "r.png"), "t", window=4)
    assert Image.open(png).size[0] > 200
