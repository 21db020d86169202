"""``interplay-verl generate``: mixtures, byte-identical shards, atomic writes, resume, splits."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from interplay_verl.data.splits import exclude, overlap_report
from interplay_verl.problems.mixtures import MixtureError, allocate, context_weights, op_weights

GEN = [sys.executable, "-m", "interplay_verl.cli", "generate"]
# the reference generation every determinism test reproduces
REFERENCE_ARGS = ["--ops", "2-12", "--per-op", "40", "--modes", "forward,reverse", "--contexts", "zoo,school",
                  "--shard-size", "15", "--seed", "7", "--quiet"]


def shard_hashes(out) -> dict:
    return {f: hashlib.sha256(open(os.path.join(out, f), "rb").read()).hexdigest()
            for f in sorted(os.listdir(out)) if f.endswith(".parquet")}


def generate(out, *extra, env=None, check=True):
    cmd = GEN + REFERENCE_ARGS + ["--out", str(out), *extra]
    proc = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


# ------------------------------------------------------------------ mixtures
def test_pretraining_preset():
    w = op_weights("id2-10_0.2easy_0.3medium_0.5hard")
    assert sorted(w) == list(range(2, 11))
    assert w[2] == pytest.approx(0.2 / 3) and w[6] == pytest.approx(0.1) and w[10] == pytest.approx(0.5 / 3)
    assert sum(w.values()) == pytest.approx(1.0)


def test_cpt_and_rl_presets():
    w = op_weights("cpt0.2-uniform_0.8-11-14")
    assert w[5] == pytest.approx(0.2 / 9) and w[12] == pytest.approx(0.2) and sum(w.values()) == pytest.approx(1)
    plus = op_weights("11-14_plus")
    assert plus[3] == pytest.approx(0.1 / 9) and plus[14] == pytest.approx(0.9 / 4)
    assert op_weights("2:0.25,7:0.75") == {2: 0.25, 7: 0.75}
    # the paper's long mid-training run is named with "_plus"; its data is the mixture without it
    assert op_weights("cpt0.2-uniform_0.8-11-14_plus") == w


@pytest.mark.parametrize("spec,message", [
    ("id2-10_0.2easy_0.3medium_1.3hard", "weights sum to 1.8, not 1"),  # the paper's committed bug
    ("cpt0.5-uniform_0.6-11-14", "weights sum to 1.1, not 1"),
    ("14-11", "empty op range 14-11"),
    ("2:0.5,2:0.5", "op 2 listed twice"),
    ("hard-mode", "not a preset"),
])
def test_bad_mixtures_name_the_preset(spec, message):
    with pytest.raises(MixtureError) as err:
        op_weights(spec)
    assert f"mixture {spec!r}" in str(err.value) and message in str(err.value)


def test_context_weights():
    assert context_weights("zoo:0.99,school:0.01") == {"zoo": 0.99, "school": 0.01}
    assert context_weights("zoo,school") == {"zoo": 0.5, "school": 0.5}
    with pytest.raises(MixtureError, match="unknown context 'mars'"):
        context_weights("zoo,mars", known={"zoo", "school"})
    with pytest.raises(MixtureError, match="sum to 0.5"):
        context_weights("zoo:0.25,school:0.25")


def test_allocate_is_exact_and_deterministic():
    counts = allocate(1000, {"zoo": 0.999, "school": 0.001})
    assert counts == {"zoo": 999, "school": 1} and sum(allocate(7, {1: 1 / 3, 2: 1 / 3, 3: 1 / 3}).values()) == 7


# ------------------------------------------------------------------ generate
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen_ref")
    generate(out)
    return out


def test_output_is_shards_plan_and_manifest(reference):
    files = sorted(os.listdir(reference))
    assert "manifest.json" in files and "plan.json" in files
    manifest = json.load(open(reference / "manifest.json"))
    assert manifest["seed"] == 7 and manifest["rows"] == 11 * 40 * 2 and manifest["config"]["modes"] == ["forward", "reverse"]
    assert {s["file"] for s in manifest["shards"]} == {f for f in files if f.endswith(".parquet")}
    table = pq.read_table(os.path.join(reference, manifest["shards"][0]["file"]))
    assert table.column_names[:4] == ["id", "problem", "question", "solution"]
    rows = [r for f in files if f.endswith(".parquet") for r in pq.read_table(reference / f).to_pylist()]
    assert len(rows) == manifest["rows"] and len({r["id"] for r in rows}) > 0.95 * len(rows)
    assert {r["context"] for r in rows} == {"zoo", "school"} and {r["op"] for r in rows} == set(range(2, 13))


def test_same_bytes_with_two_workers_and_other_hashseed(reference, tmp_path):
    generate(tmp_path / "w2", "--workers", "2", env={"PYTHONHASHSEED": "999"})
    assert shard_hashes(tmp_path / "w2") == shard_hashes(reference)


def test_paper_style_gives_the_same_bytes_with_two_workers_and_records_its_style(tmp_path):
    args = ["--ops", "2-15", "--per-op", "6", "--modes", "forward,reverse", "--contexts", "zoo,school",
            "--shard-size", "5", "--seed", "3", "--quiet", "--style", "paper"]
    one = subprocess.run(GEN + args + ["--out", str(tmp_path / "one")], capture_output=True, text=True, timeout=600)
    two = subprocess.run(GEN + args + ["--out", str(tmp_path / "two"), "--workers", "2"], capture_output=True,
                         text=True, timeout=600, env={**os.environ, "PYTHONHASHSEED": "77"})
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert shard_hashes(tmp_path / "one") == shard_hashes(tmp_path / "two") and len(shard_hashes(tmp_path / "one")) > 14
    manifest = json.load(open(tmp_path / "one" / "manifest.json"))
    assert manifest["config"]["style"] == "paper" and manifest["rows"] == 14 * 6 * 2
    rows = [r for f in sorted(os.listdir(tmp_path / "one")) if f.endswith(".parquet")
            for r in pq.read_table(tmp_path / "one" / f).to_pylist()]
    assert {r["generator_version"] for r in rows} == {"paper-style-1"} and {r["op"] for r in rows} == set(range(2, 16))


def test_kill_then_resume_gives_same_bytes(reference, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(GEN + REFERENCE_ARGS + ["--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len([f for f in os.listdir(out) if f.endswith(".parquet")] if out.exists() else []) < 5:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = [f for f in os.listdir(out) if f.endswith(".parquet") and not f.startswith(".")]
    assert 0 < len(done) < len(shard_hashes(reference)), "kill landed too late to test resume"
    for f in done:  # whatever is visible under a final name is complete
        assert pq.read_table(out / f).num_rows > 0
    assert not (out / "manifest.json").exists()
    assert "already has a generation" in generate(out, check=False).stderr
    generate(out, "--resume")
    assert shard_hashes(out) == shard_hashes(reference)
    assert not [f for f in os.listdir(out) if f.startswith(".partial-")]


def test_resume_refuses_a_different_configuration(reference, tmp_path):
    out = tmp_path / "other"
    generate(out)
    proc = subprocess.run(GEN + ["--ops", "2-5", "--per-op", "3", "--out", str(out), "--resume", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "holds a different generation" in proc.stderr
    # the CPU-scale sampler is part of the plan: a different value range is a different generation
    proc = subprocess.run(GEN + ["--ops", "2-4", "--per-op", "3", "--out", str(out), "--resume", "--quiet",
                                 "--max-value", "20"], capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "holds a different generation" in proc.stderr


def test_sampler_settings_are_recorded_and_honoured(reference, tmp_path):
    out = tmp_path / "small"
    proc = subprocess.run(GEN + ["--ops", "2-6", "--per-op", "4", "--max-value", "20", "--letters", "ordered",
                                 "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in ("plan.json", "manifest.json"):
        assert json.load(open(out / name))["config"]["sampler"] == {"max_value": 20, "letters": "ordered"}
    rows = [r for f in sorted(os.listdir(out)) if f.endswith(".parquet") for r in pq.read_table(out / f).to_pylist()]
    assert len(rows) == 20 and max(n["value"] for r in rows for n in json.loads(r["graph"])["nodes"]) <= 20
    assert all(r["solution"].startswith("Define ") and " as a; " in r["solution"] for r in rows)
    # the defaults record nothing, so plans written before these options existed still resume
    assert "sampler" not in json.load(open(os.path.join(reference, "plan.json")))["config"]


@pytest.mark.parametrize("args,message", [
    (["--ops", "id2-10_0.2easy_0.3medium_0.6hard", "--per-op", "1"], "weights sum to 1.1"),
    (["--per-op", "1", "--contexts", "zoo,mars"], "unknown context 'mars'"),
    (["--per-op", "1", "--modes", "sideways"], "--modes 'sideways'"),
    (["--per-op", "1", "--ops", "1-5"], "ops must lie in 2..40"),
    (["--per-op", "1", "--context-ops", "school=2"], "'school' is not one of the contexts (zoo)"),
    (["--per-op", "1", "--contexts", "zoo,school", "--context-ops", "school"], "write CONTEXT=OPS"),
    (["--per-op", "1", "--contexts", "zoo,school", "--context-ops", "school=1-3"], "--ops 'school=1-3'"),
    (["--per-op", "1", "--contexts", "zoo,school", "--context-ops", "school=2:0.5"], "weights sum to 0.5"),
    (["--rows", "0"], "--rows 0: must be at least 1"),
    (["--per-op", "1", "--style", "gsm"], "invalid choice: 'gsm'"),
    (["--per-op", "1", "--max-value", "5"], "--max-value 5: must be at least 10"),
    (["--per-op", "1", "--max-distractors", "-1"], "--max-distractors -1: must be at least 0"),
    (["--per-op", "1", "--max-entities", "6"], "--max-entities 6: must be in 1..5"),
    (["--per-op", "1", "--style", "paper", "--letters", "ordered"],
     "--max-value, --max-distractors, --max-entities and --letters apply"),
])
def test_configuration_errors_before_any_work(tmp_path, args, message):
    out = tmp_path / "bad"
    proc = subprocess.run(GEN + ["--out", str(out), "--quiet", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and message in proc.stderr
    assert not out.exists() or not os.listdir(out)


def test_token_budget_allocates_by_weight(tmp_path):
    out = tmp_path / "tok"
    proc = subprocess.run(GEN + ["--ops", "2:0.5,20:0.5", "--tokens", "40000", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [r for f in sorted(os.listdir(out)) if f.endswith(".parquet") for r in pq.read_table(out / f).to_pylist()]
    tokens = {op: sum(len(r["text"]) / 4 for r in rows if r["op"] == op) for op in (2, 20)}
    assert tokens[2] == pytest.approx(20000, rel=0.25) and tokens[20] == pytest.approx(20000, rel=0.25)
    assert sum(r["op"] == 2 for r in rows) > 3 * sum(r["op"] == 20 for r in rows)  # short problems, many of them


def test_context_ops_give_a_context_its_own_op_mixture(tmp_path):
    """The paper's second context family: A (zoo) over op 2-20, B (school) only at op 2, 10% of rows."""
    out = tmp_path / "family2"
    proc = subprocess.run(GEN + ["--ops", "2-20", "--contexts", "zoo:0.9,school:0.1", "--context-ops", "school=2",
                                 "--rows", "1900", "--out", str(out), "--quiet"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = [r for f in sorted(os.listdir(out)) if f.endswith(".parquet") for r in pq.read_table(out / f).to_pylist()]
    school = [r for r in rows if r["context"] == "school"]
    assert len(rows) == 1900 and {r["op"] for r in school} == {2} and len(school) == 190
    # op 2 holds its zoo share (0.9 / 19 of the rows) plus all of school's
    assert sum(r["op"] == 2 for r in rows) == 90 + 190 and {r["op"] for r in rows} == set(range(2, 21))
    manifest = json.load(open(out / "manifest.json"))
    assert manifest["config"]["context_ops"] == {"school": {"spec": "2", "op_weights": {"2": 1.0}}}
    # --rows follows the op weights: 11-14_plus replays op 2-10 in 10% of the rows
    plus = tmp_path / "plus"
    proc = subprocess.run(GEN + ["--ops", "11-14_plus", "--rows", "360", "--out", str(plus), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    ops = [r["op"] for f in sorted(os.listdir(plus)) if f.endswith(".parquet") for r in pq.read_table(plus / f).to_pylist()]
    assert sum(op <= 10 for op in ops) == 36 and sum(op == 12 for op in ops) == 81


# ------------------------------------------------------------------ splits
def test_splits_report_and_remove_overlap(reference, tmp_path):
    other = tmp_path / "eval"
    # same seed, fewer rows: every row of `other` is a row of the reference (rows depend on their index only)
    proc = subprocess.run(GEN + ["--ops", "2-12", "--per-op", "20", "--modes", "forward,reverse", "--contexts",
                                 "zoo,school", "--seed", "7", "--quiet", "--out", str(other)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    report = overlap_report([str(reference), str(other)])
    assert report["pairs"][0]["overlap"] == report["sizes"][str(other)] == 11 * 2 * 20
    stats = exclude(str(reference), [str(other)], str(tmp_path / "train.parquet"))
    assert stats == {"source_rows": 11 * 2 * 40, "kept": 11 * 2 * 20, "dropped": 11 * 2 * 20}
    after = overlap_report([str(tmp_path / "train.parquet"), str(other)])
    assert after["disjoint"] and after["pairs"][0]["overlap"] == 0
    proc = subprocess.run([sys.executable, "-m", "interplay_verl.cli", "splits", "check", str(reference), str(other)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and '"disjoint": false' in proc.stdout


@pytest.mark.slow  # a Ray cluster
def test_ray_tasks_give_the_same_bytes(reference, tmp_path, monkeypatch):
    """--ray with no RAY_ADDRESS starts a local Ray (bound to this machine) and runs shards as tasks."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    generate(tmp_path / "ray", "--ray")
    assert shard_hashes(tmp_path / "ray") == shard_hashes(reference)
