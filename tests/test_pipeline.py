"""The whole study from one configuration: config checks, the smoke profile end to end with a
kill during RL and a rerun, and submission to a local Ray cluster with recipes/submit_ray.sh.

The end-to-end tests run ``bash recipes/cpt_then_rl.sh`` itself (PROFILE=smoke: every stage of
the tiny profile at the smallest sizes). Each starts Ray; they run one at a time.
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from interplay_verl.pipeline import STAGES, PipelineConfigError, load, stage_keys, validate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILES = os.path.join(ROOT, "recipes", "profiles")


def _env(out, **extra):
    env = dict(os.environ, NO_SETUP="1", PYTHON=sys.executable, OUT=str(out), PROFILE="smoke", **extra)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def _kill_tree(pid: int) -> None:
    """Our own process and its descendants, by PID (the recipe, the pipeline, torchrun, Ray)."""
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = [parent, *parent.children(recursive=True)]
    for proc in procs:
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=30)


# ------------------------------------------------------------------ configuration


def test_every_profile_loads_and_validates():
    paths = sorted(glob.glob(os.path.join(PROFILES, "*.yaml")))  # the studies' arms: tests/test_study.py
    assert [os.path.basename(p) for p in paths] == ["paper.yaml", "small.yaml", "smoke.yaml", "tiny.yaml"]
    outs = set()
    for path in paths:
        cfg = load(path, environ={})
        validate(cfg)  # composes every verl stage of the profile, on CPU
        outs.add(cfg.out)
    assert len(outs) == len(paths)  # no two presets write to the same place
    paper = load(os.path.join(PROFILES, "paper.yaml"), environ={})
    assert paper.rl.config_name == "interplay_grpo" and paper.device == "gpu" and paper.evaluate.n_samples == 128
    assert paper.model.size == "100m" and paper.data.contexts == "zoo,school,festival"


def test_every_trainer_stage_of_every_profile_saves_checkpoints_and_the_check_catches_one_that_would_not():
    """verl's PPO trainer saves nothing at save_freq <= 0: the HF export would raise after the last
    step and a rerun would start again at step 0. Composed as each stage composes its verl config."""
    from interplay_verl.pipeline.config import trainer_configs

    paths = sorted(glob.glob(os.path.join(PROFILES, "*.yaml")))
    for path in paths:
        cfg = load(path, environ={})
        composed = trainer_configs(cfg)
        assert set(composed) == {"pretrain", "midtrain", "rl"} if cfg.midtrain.enable else {"pretrain", "rl"}
        for stage, verl_cfg in composed.items():
            assert verl_cfg.trainer.save_freq > 0, (path, stage)
            assert verl_cfg.trainer.nnodes == cfg.cluster.nodes and verl_cfg.trainer.n_gpus_per_node == cfg.cluster.gpus_per_node
    paper = trainer_configs(load(os.path.join(PROFILES, "paper.yaml"), environ={}))["rl"]
    assert paper.actor_rollout_ref.rollout.tensor_model_parallel_size == 1
    assert (paper.trainer.n_gpus_per_node, paper.actor_rollout_ref.rollout.name) == (8, "vllm")
    assert paper.trainer.test_freq > 0 and paper.trainer.val_before_train  # on held-out rows (stages._rl_validation)
    tiny = os.path.join(PROFILES, "tiny.yaml")
    for sets, stage in ((["rl.overrides=[trainer.save_freq=-1]"], "rl"), (["pretrain.overrides=[trainer.save_freq=0]"], "pretrain")):
        with pytest.raises(PipelineConfigError, match=f"{stage}: trainer.save_freq=(-1|0) saves no checkpoint.*"
                                                      "set trainer.save_freq > 0"):
            validate(load(tiny, sets, environ={}))
    with pytest.raises(PipelineConfigError, match="tensor_parallel dividing gpus_per_node"):
        validate(load(tiny, ["cluster.tensor_parallel=2"], environ={}))


def test_overrides_from_environment_and_set_and_errors_name_the_key():
    tiny = os.path.join(PROFILES, "tiny.yaml")
    cfg = load(tiny, ["rl.alpha=0.5"], environ={"IV__RL__VARIANT": "strict", "IV__FILTER__N_MAX": "32"})
    assert (cfg.rl.variant, cfg.rl.alpha, cfg.filter.n_max) == ("strict", 0.5, 32)
    assert load(tiny, ["rl.alpha=1"], environ={}).rl.alpha == 1.0  # an int where a float goes is converted
    with pytest.raises(PipelineConfigError, match=r"--set rl.varient=strict: unknown key 'rl.varient'; rl has \['alpha', "):
        load(tiny, ["rl.varient=strict"], environ={})
    with pytest.raises(PipelineConfigError, match=r"environment IV__FILTRE__K: unknown key 'filtre'; the top level has"):
        load(tiny, environ={"IV__FILTRE__K": "3"})
    with pytest.raises(PipelineConfigError, match=r"--set filter.n_max=many: filter.n_max: Value 'many' .* Integer"):
        load(tiny, ["filter.n_max=many"], environ={})
    with pytest.raises(PipelineConfigError, match=r"missing key\(s\) \['filter.ops', 'name'\]"):
        load(str(write_profile(tiny, {"name": "???", "filter": {"ops": "???"}})), environ={})
    for sets, message in ((["pretrain.ops=2-x"], "pretrain.ops: mixture .2-x."), (["filter.k=64"], "filter.k=64 > filter.n_max=16"),
                          (["evaluate.splits=[id,hard]"], "evaluate.splits"),
                          (["evaluate.splits=[2-7,7-9]"], r"evaluate.splits: op 7 is in two splits \(2-7, 7-9\)"),
                          (["evaluate.splits=[2-50]"], r"evaluate.splits \['2-50'\]: ops must lie in 2..40"),
                          (["evaluate.splits=[]"], r"evaluate.splits \[\] hold none at op \[4, 5, 6\]"),
                          (["rl.overrides=[actor_rollout_ref.rollout.nn=2]"], "rl: verl rejects the overrides"),
                          (["pretrain.overrides=[optim.lrr=1]"], "pretrain.overrides: verl rejects"),
                          (["pretrain.context_ops.school=2"], r"pretrain.context_ops.school: 'school' is not one of "
                                                               r"data.contexts \(zoo\)"),
                          (["data.contexts=zoo:0.9,school:0.1", "midtrain.context_ops.school=5-3"],
                           r"midtrain.context_ops.school: mixture .5-3.: empty op range 5-3"),
                          (["data.letters=abc"], r"data.letters 'abc': choose one of random, ordered"),
                          (["data.max_value=5"], r"data.max_value 5: must be at least 10"),
                          (["data.style=paper", "data.max_value=20"], r"data.style=paper: data.max_value, "
                                                                       r"data.max_distractors, data.max_entities and "
                                                                       r"data.letters apply to style interplay only")):
        with pytest.raises(PipelineConfigError, match=message):
            validate(load(tiny, sets, environ={}))


def test_stage_keys_change_downstream_only():
    """Keys are cut where a study's arms part ways: RL settings leave the base and the eval sets alone."""
    tiny = os.path.join(PROFILES, "tiny.yaml")
    base = stage_keys(load(tiny, environ={}))

    def changed(*sets):
        keys = stage_keys(load(tiny, list(sets), environ={}))
        return [s for s in STAGES if base[s] != keys[s]]

    assert changed("rl.variant=outcome") == ["rl", "evaluate", "report"]
    after_pretrain = ["mid_data", "midtrain", "eval_mid", "candidates", "filter", "rl", "evaluate", "report"]
    # the pre-trained base is shared by arms that differ in RL data, filter or mid-training
    assert changed("filter.ops=5-6") == ["candidates", "filter", "rl", "evaluate", "report"]
    assert changed("filter.enable=false") == ["filter", "rl", "evaluate", "report"]
    assert changed("midtrain.enable=false") == after_pretrain
    assert changed("midtrain.ops=5-6") == after_pretrain
    assert changed("pretrain.tokens=5") == ["data", "tokenizer", "corpus", "init", "pretrain", "eval_base",
                                            *after_pretrain]
    assert changed("evaluate.n_samples=9") == ["eval_base", "eval_mid", "evaluate", "report"]
    assert changed("rl.start_step=100") == ["eval_mid", "filter", "rl", "evaluate", "report"]
    assert changed("data.letters=random") == changed("data.max_value=30") == changed("data.max_distractors=1") \
        == changed("data.max_entities=2") == list(STAGES)
    # at their defaults the generator knobs stay out of the keys: runs made before they existed resume
    from interplay_verl.pipeline.runner import stage_settings

    from interplay_verl.problems.sampler import SAMPLER_OPTIONS, SamplerConfig

    defaults = [f"data.{k}={getattr(SamplerConfig(), k)}" for k in SAMPLER_OPTIONS]
    assert not {f"data.{k}" for k in SAMPLER_OPTIONS} & set(stage_settings(load(tiny, defaults, environ={}), "data"))
    assert stage_settings(load(tiny, environ={}), "data")["data.max_entities"] == 1  # the tiny profile's
    assert changed("evaluate.per_op=9") == [s for s in STAGES if s not in ("data", "tokenizer", "init")]


def write_profile(base: str, sections: dict, tmp=None) -> str:
    """A profile extending ``base`` with ``sections`` (YAML), in a temporary directory."""
    import tempfile

    import yaml

    folder = tempfile.mkdtemp(prefix="profile")
    path = os.path.join(folder, "profile.yaml")
    with open(path, "w") as f:
        yaml.safe_dump({"extends": os.path.abspath(base), **sections}, f)
    return path


def test_a_stage_added_through_the_table_runs_in_the_pipeline(tmp_path):
    """A new stage is one register_stage call (and a section, if it has settings): this module only."""
    from dataclasses import dataclass

    from interplay_verl.data.rows import load_rows
    from interplay_verl.pipeline import Pipeline, Stage, register_section, register_stage, unregister_stage
    from interplay_verl.pipeline.config import CHECKS, SECTIONS

    @dataclass
    class CountConfig:
        op: int = 2

    def count(run) -> None:  # reads what upstream wrote, writes its own directory
        rows = [r for r in load_rows(run.path("eval_sets")) if r["op"] == run.cfg.count.op]
        os.makedirs(run.path("count"), exist_ok=True)
        with open(run.path("count", "n.txt"), "w") as f:
            f.write(f"{len(rows)}\n")

    def check(cfg) -> None:
        if cfg.count.op < 2:
            raise ValueError(f"count.op={cfg.count.op}: ops start at 2")

    register_section("count", CountConfig, check)
    register_stage(Stage("count", count, settings=("count.op",), upstream=("eval_sets",)))
    try:
        smoke = os.path.join(PROFILES, "smoke.yaml")
        cfg = load(smoke, ["count.op=3"], environ={})
        first = Pipeline(cfg, out=str(tmp_path)).run(only=["eval_sets", "count"])
        assert list(first["seconds"]) == ["eval_sets", "count"]
        per_op = load(smoke, environ={}).evaluate.per_op
        assert (tmp_path / "count" / "n.txt").read_text() == f"{per_op}\n"
        record = json.loads((tmp_path / "count" / "manifest.json").read_text())["pipeline"]
        assert record["key"] == stage_keys(cfg)["count"] and record["settings"] == {"count.op": 3}
        assert Pipeline(cfg, out=str(tmp_path)).run(only=["count"])["seconds"] == {}  # done: skipped
        with pytest.raises(PipelineConfigError, match=r"stage 'count' was run with a different configuration "
                                                      r"\(changed: \['count.op'\]\)"):
            Pipeline(load(smoke, ["count.op=4"], environ={}), out=str(tmp_path)).run(only=["count"])
        with pytest.raises(PipelineConfigError, match="config: count.op=1: ops start at 2"):
            validate(load(smoke, ["count.op=1"], environ={}))  # the section's own check runs with the others
    finally:
        unregister_stage("count")
        SECTIONS.pop("count")
        CHECKS.remove(check)
    assert "count" not in STAGES and "count" not in json.dumps(stage_keys(load(smoke, environ={})))


def test_a_registered_reward_variant_is_accepted_by_the_cli_and_the_config():
    """A new reward variant is one register_variant call: this module only."""
    from interplay_verl.problems.contexts import load_context
    from interplay_verl.problems.rows import generate_row
    from interplay_verl.rewards.composite import VARIANTS, compute_score, register_variant
    from interplay_verl.train import rl

    @register_variant("half_outcome")
    def half_outcome(report, outcome, r_pv, alpha):
        return 0.5 * outcome

    try:
        row = generate_row(3, "forward", load_context("zoo"), seed=1, index=0)
        gold = row["text"].split("<solution>", 1)[1]
        assert compute_score("x", gold, row["answer"], {"graph": row["graph"]}, variant="half_outcome")["score"] == 0.5
        args, _ = rl.build_parser().parse_known_args(["--model", "m", "--train", "t", "--out", "o",
                                                      "--variant", "half_outcome"])
        assert args.variant == "half_outcome"
        validate(load(os.path.join(PROFILES, "tiny.yaml"), ["rl.variant=half_outcome"], environ={}))
    finally:
        VARIANTS.pop("half_outcome")
    with pytest.raises(PipelineConfigError, match="rl: reward_kwargs.variant='half_outcome'"):
        validate(load(os.path.join(PROFILES, "tiny.yaml"), ["rl.variant=half_outcome"], environ={}))
    with pytest.raises(SystemExit):
        rl.build_parser().parse_known_args(["--model", "m", "--train", "t", "--out", "o", "--variant", "half_outcome"])


@pytest.mark.slow  # two launches of the recipe, each composing every verl stage
def test_stage_recipes_are_the_pipeline_with_only(tmp_path):
    """recipes/pretrain.sh, midtrain.sh, rl.sh: the main job's stages, same profile and layout."""
    def check(recipe):
        return subprocess.run(["bash", os.path.join(ROOT, "recipes", recipe), "--check"], env=_env(tmp_path / "run"),
                              cwd=ROOT, capture_output=True, text=True, timeout=600)

    first = check("pretrain.sh")
    assert first.returncode == 0, first.stderr[-2000:]
    assert json.loads(first.stdout.strip().splitlines()[-1])["to_run"] == ["eval_sets", "data", "tokenizer", "corpus",
                                                                          "init", "pretrain"]
    rl = check("rl.sh")  # nothing before it has run
    assert rl.returncode == 2 and "stage 'eval_base' needs ['pretrain', 'eval_sets'] first" in rl.stderr, \
        rl.stderr[-2000:]


# ------------------------------------------------------------------ end to end (Ray; one at a time)


@pytest.mark.slow  # the whole smoke pipeline
def test_smoke_recipe_end_to_end_killed_during_rl_then_resumed(tmp_path):
    out = tmp_path / "run"
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(["bash", os.path.join(ROOT, "recipes", "cpt_then_rl.sh")], env=_env(out), cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 1500
    try:
        while not glob.glob(str(out / "rl" / "checkpoints" / "global_step_*" / "actor")) or \
                not (out / "rl" / "checkpoints" / "latest_checkpointed_iteration.txt").exists():
            assert proc.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.time() < deadline, "no RL checkpoint in time"
            time.sleep(1)
    finally:
        _kill_tree(proc.pid)
    assert not (out / "rl" / "manifest.json").exists()
    names = list(STAGES)
    done = {s: (out / s / "manifest.json").stat().st_mtime for s in names[:names.index("rl")]}
    assert len(done) == 12  # eval_sets ... filter finished before the kill

    second = subprocess.run(["bash", os.path.join(ROOT, "recipes", "cpt_then_rl.sh")], env=_env(out), cwd=ROOT,
                            capture_output=True, text=True, timeout=1500)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    for stage, mtime in done.items():  # not redone
        assert f"[pipeline] {stage}: done before, skipped" in second.stdout
        assert (out / stage / "manifest.json").stat().st_mtime == mtime
    rl = json.loads((out / "rl" / "manifest.json").read_text())["result"]
    assert rl["resumed_from"] and rl["resumed_from"].startswith("global_step_") and rl["launches"] == 2
    assert rl["steps"] == 3
    # the online filter's pool came back with the checkpoint: the last one counts every rollout of
    # all 3 steps (4 prompts x 4 rollouts each), not only those after the resume
    pool = json.loads((out / "rl" / "checkpoints" / "global_step_3" / "edge_pool.json").read_text())
    assert sum(n for n, _ in pool["counts"].values()) == 3 * 4 * 4

    comparison = json.loads((out / "report" / "comparison.json").read_text())
    assert comparison["names"] == ["base", "mid", "rl"] and comparison["k"] == [1, 2]
    # the profile evaluates op 2-7 (its own ops, not the paper's 2-20)
    assert list(comparison["splits"]) == ["all", "id", "run_id", "run_ood_edge"]
    assert comparison["run_splits"]["run_id"] == [2, 4]  # the smoke run pre-trains on op 2-4
    assert comparison["intervals"] is True  # from each evaluation's samples
    for split, rows in comparison["splits"].items():
        for name in ("base", "mid", "rl"):
            assert set(rows[name]["verified"]) == {"1", "2"}, (split, name)
        assert rows["base"]["interval"]["verified"]["1"][0] <= rows["base"]["verified"]["1"]
        change = rows["rl"]["change"]["verified"]["1"]  # RL against the base, over the problems both scored
        assert set(change) == {"before", "after", "change", "low", "high", "problems", "beyond_noise"}
        assert change["change"] == pytest.approx(change["after"] - change["before"], abs=2e-4)
    assert (out / "report" / "comparison.md").exists() and (out / "report" / "comparison.png").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "pipeline" and manifest["last_run"]["peak_rss_gb"] > 0
    # what the first launch's stages cost is kept in their records: the second launch reports them too
    costs, ran = manifest["last_run"]["stages"], manifest["last_run"]["seconds"]
    assert set(done) <= set(costs) and not set(done) & set(ran) and "rl" in ran
    assert all(costs[s]["peak_rss_gb"] > 0 and costs[s]["seconds"] >= 0 for s in costs)



def test_peak_memory_is_kept_per_stage():
    from interplay_verl.pipeline.runner import PeakMemory

    with PeakMemory(interval=600) as memory:  # samples at each lap only: no timing in the test
        memory.lap()
        block = bytearray(b"\x01") * (300 * 2 ** 20)  # written, so resident
        held = memory.lap()
        del block
        after = memory.lap()
    assert held - after >= 0.25 and round(memory.peak / 2 ** 30, 2) >= held


def test_a_runs_summary_has_the_costs_of_stages_done_before(tmp_path):
    """What a stage cost stays in its record, so a resumed run still reports it."""
    from interplay_verl.manifest import record_stage
    from interplay_verl.pipeline import Pipeline

    run = Pipeline(load(os.path.join(PROFILES, "smoke.yaml"), environ={}), out=str(tmp_path / "run"))
    for name, key in (("eval_sets", run.keys["eval_sets"]), ("data", "another-configuration")):
        os.makedirs(run.path(name))
        record_stage(run.path(name), {"stage": name, "key": key, "settings": {}, "seconds": 1.5, "peak_rss_gb": 0.4})
    assert run.stage_costs() == {"eval_sets": {"seconds": 1.5, "peak_rss_gb": 0.4}}  # data is not this run's


def test_a_store_keeps_stages_by_key_and_links_follow_the_current_one(tmp_path):
    from interplay_verl.pipeline import Pipeline

    smoke = os.path.join(PROFILES, "smoke.yaml")
    first = Pipeline(load(smoke, environ={}), out=str(tmp_path / "arm"), store=str(tmp_path / "store"))
    assert first.path("data", "pretrain") == str(tmp_path / "store" / f"data-{first.keys['data']}" / "pretrain")
    assert first.path("manifest.json") == str(tmp_path / "arm" / "manifest.json")  # not a stage: the run's own
    os.makedirs(first.path("data"))
    first.link_stages()
    assert os.path.realpath(tmp_path / "arm" / "data") == first.path("data")
    other = Pipeline(load(smoke, ["pretrain.tokens=5000"], environ={}), out=str(tmp_path / "arm"),
                     store=str(tmp_path / "store"))
    assert other.path("data") != first.path("data") and other.path("eval_sets") == first.path("eval_sets")
    os.makedirs(other.path("data"))
    other.link_stages()  # a rerun with another key: the link follows, the old stage stays in the store
    assert os.path.realpath(tmp_path / "arm" / "data") == other.path("data") and os.path.isdir(first.path("data"))
