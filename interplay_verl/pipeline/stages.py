"""The stage table: every stage of the study, what it reads and writes, and what it depends on.

    eval_sets -> data -> tokenizer -> corpus -> init -> pretrain -> eval_base -> mid_data -> midtrain
              -> eval_mid -> candidates -> filter -> rl -> evaluate -> report

A stage is one ``Stage`` entry: its name (also its output directory, ``<out>/<name>/``), the
configuration keys its outputs depend on, the stages upstream of it, and a function that
reads only what upstream stages wrote and writes only its own directory. Everything the
runner does (order, hashes, completion markers, resume, ``--only``) is derived from this
table, so a new stage is one ``register_stage`` call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

from interplay_verl.pipeline.config import DataConfig, resolve, sampler_of, verl_extra
from interplay_verl.problems.sampler import SAMPLER_OPTIONS


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[Any], None]  # (run context) -> None; writes <out>/<name>/
    settings: tuple[str, ...] = ()  # dotted configuration keys (or whole sections) its outputs depend on
    upstream: tuple[str, ...] = ()
    enabled: Callable[[Any], bool] = lambda cfg: True  # a disabled stage is skipped and counts as done


STAGES: dict[str, Stage] = {}


def register_stage(stage: Stage) -> Stage:
    """Append a stage; its upstream stages must be registered first (the table stays in run order)."""
    unknown = [u for u in stage.upstream if u not in STAGES]
    if unknown:
        raise ValueError(f"stage {stage.name!r}: upstream {unknown} not registered (stages: {list(STAGES)})")
    if stage.name in STAGES:
        raise ValueError(f"stage {stage.name!r} is registered already")
    STAGES[stage.name] = stage
    return stage


def unregister_stage(name: str) -> None:
    """Remove a stage nothing depends on (tests add and remove their own)."""
    users = [s.name for s in STAGES.values() if name in s.upstream]
    if users:
        raise ValueError(f"stage {name!r} is upstream of {users}")
    STAGES.pop(name)


# ------------------------------------------------------------------ the study's stages
# Each reads ``run.cfg`` (the typed configuration) and paths under ``run.path(...)``. Stages are cut
# where arms of a study part ways (``interplay-verl study`` shares a stage between arms whose keys
# match): the evaluation problems and the pre-trained base depend on nothing RL or mid-training set.


def _rl_start(run) -> str:
    """The pre-trained base, the mid-trained model, or (``rl.start_step``) a mid-training checkpoint."""
    if not run.cfg.midtrain.enable:
        return run.path("pretrain", "hf")
    step = run.cfg.rl.start_step
    if not step:
        return run.path("midtrain", "hf")
    path = run.path("midtrain", "checkpoints", f"global_step_{step}", "huggingface")
    if not os.path.exists(os.path.join(path, "config.json")):
        import glob

        have = sorted(int(p.rsplit("_", 1)[1]) for p in glob.glob(run.path("midtrain", "checkpoints", "global_step_*")))
        raise ValueError(f"rl.start_step={step}: {run.path('midtrain')} has no checkpoint at that step "
                         f"(checkpoints: {have})")
    return path


def checkpoints(run) -> list[tuple[str, str]]:
    """The checkpoints evaluated and compared: base, mid (the one RL starts from) and RL."""
    out = [("base", run.path("pretrain", "hf"))]
    if run.cfg.midtrain.enable:
        out.append(("mid", _rl_start(run)))
    return out + [("rl", run.path("rl", "hf"))]


def eval_sets(run) -> None:
    """The held-out problems, first: every arm of a study is scored on the same ones, and every
    training and RL set made after them leaves them out."""
    from interplay_verl.data.eval_sets import write_eval_sets

    d, e = run.cfg.data, run.cfg.evaluate
    write_eval_sets(run.path("eval_sets"), per_op=e.per_op, splits=e.splits, contexts=e.contexts, modes=e.modes,
                    source=resolve(d.eval_from) if d.eval_from else None, style=d.style, sampler=sampler_of(d))


def _training_rows_of(run, section: str, out: str, seed: int) -> None:
    """A trainer stage's rows (``pretrain`` or ``midtrain`` section), in the data section's style."""
    from interplay_verl.problems.generate import generate

    d, t = run.cfg.data, getattr(run.cfg, section)
    generate(out, t.ops, tokens=t.tokens, modes=",".join(d.modes), contexts=d.contexts,
             context_ops=dict(t.context_ops), seed=seed, workers=d.workers, resume=True, quiet=True, style=d.style,
             sampler=sampler_of(d))


def data(run) -> None:
    """The pre-training rows."""
    _training_rows_of(run, "pretrain", run.path("data", "pretrain"), run.cfg.seed)


def mid_data(run) -> None:
    """The mid-training rows and their corpus (evaluation problems left out)."""
    from interplay_verl.corpus import build
    from interplay_verl.data.rows import read_ids

    _training_rows_of(run, "midtrain", run.path("mid_data", "rows"), run.cfg.seed + 1)
    build(run.path("mid_data", "rows"), run.path("tokenizer"), run.path("mid_data", "corpus"), run.cfg.data.block_size,
          quiet=run.quiet, exclude_ids=read_ids(run.path("eval_sets")))


def _training_rows(run) -> list[str]:
    return [run.path("data", "pretrain")] + ([run.path("mid_data", "rows")] if run.cfg.midtrain.enable else [])


def candidates(run) -> None:
    """RL candidates: generated (or drawn from ``data.candidates_from``), minus every training row and
    every evaluation problem."""
    from interplay_verl.data.splits import exclude
    from interplay_verl.problems.generate import generate

    c, d, f = run.cfg, run.cfg.data, run.cfg.filter
    train = _training_rows(run)
    if d.candidates_from:
        _select(resolve(d.candidates_from), run.path("candidates", "pool"), f, [*train, run.path("eval_sets")])
    else:
        generate(run.path("candidates", "pool"), f.ops, per_op=f.candidates_per_op, modes=",".join(f.modes),
                 contexts=f.contexts, seed=c.seed + 2, workers=d.workers, resume=True, quiet=True, style=d.style,
                 sampler=sampler_of(d))
    exclude(run.path("candidates", "pool"), [*train, run.path("eval_sets")], run.path("candidates", "rows.parquet"))


def _select(source: str, out: str, f, banned: list[str]) -> None:
    """RL candidates drawn from existing rows: ``filter.candidates_per_op`` per op, context and mode,
    none of them in the ``banned`` row sets (training rows, evaluation problems)."""
    import pyarrow as pa

    from interplay_verl.atomic import atomic_write_parquet
    from interplay_verl.data.rows import read_ids, schema, select_rows
    from interplay_verl.problems.mixtures import context_weights, op_weights

    rows = select_rows(source, sorted(op_weights(f.ops)), sorted(context_weights(f.contexts)), f.modes,
                       f.candidates_per_op, exclude=set().union(*(read_ids(p) for p in banned)))
    atomic_write_parquet(pa.Table.from_pylist([{k: r[k] for k in schema().names} for r in rows], schema=schema()),
                         os.path.join(out, "rows.parquet"))


def tokenizer(run) -> None:
    from interplay_verl.tokenizer import build_tokenizer

    build_tokenizer(run.path("data", "pretrain"), run.path("tokenizer"), vocab_size=run.cfg.data.vocab_size)


def corpus(run) -> None:
    from interplay_verl.corpus import build
    from interplay_verl.data.rows import read_ids

    build(run.path("data", "pretrain"), run.path("tokenizer"), run.path("corpus", "pretrain"), run.cfg.data.block_size,
          quiet=run.quiet, exclude_ids=read_ids(run.path("eval_sets")))


def init(run) -> None:
    from interplay_verl.models import init_model

    init_model(run.path("tokenizer"), run.path("init"), run.cfg.model.size, run.cfg.seed)


def _train(run, name: str, start: str, corpus_dir: str) -> None:
    from interplay_verl.cluster import on_cluster
    from interplay_verl.train import pretrain as trainer

    section = getattr(run.cfg, name)
    stage_cfg = trainer.load_config(resolve(section.config))
    stage_cfg["device"], stage_cfg["nproc"] = run.cfg.device, run.cfg.cluster.gpus_per_node
    trainer.run(stage_cfg, corpus_dir, start, run.path(name), extra=verl_extra(run.cfg, name),
                config_path=resolve(section.config), launcher="ray" if on_cluster() else "torchrun")


def pretrain(run) -> None:
    _train(run, "pretrain", run.path("init"), run.path("corpus", "pretrain"))


def midtrain(run) -> None:
    _train(run, "midtrain", run.path("pretrain", "hf"), run.path("mid_data", "corpus"))


def placement(run) -> dict:
    """Where a stage's generation replicas run: every device of the cluster, ``tensor_parallel`` each."""
    c = run.cfg.cluster
    return {"device": run.cfg.device, "n_replicas": c.replicas, "gpus_per_node": c.gpus_per_node,
            "tensor_parallel": c.tensor_parallel, "seed": run.cfg.seed}


def edge_filter(run) -> None:
    from interplay_verl.filters.band import Band, StoppingRule
    from interplay_verl.filters.offline import run_filter

    f = run.cfg.filter
    run_filter(_rl_start(run), run.path("candidates"), run.path("filter"),
               Band(f.tau_1, f.tau_k, f.k, f.metric), StoppingRule(f.n_max, f.give_up_after),
               round_size=f.round_size, temperature=f.temperature, max_new_tokens=f.max_new_tokens,
               seed=run.cfg.seed, quiet=run.quiet, placement=placement(run), semantics=run.cfg.rl.semantics)


def rl(run) -> None:
    from interplay_verl.train import rl as trainer

    r = run.cfg.rl
    trainer.run(r.config_name, _rl_start(run), _rl_train(run), _rl_validation(run), run.path("rl"),
                run.cfg.device, r.variant, r.alpha, verl_extra(run.cfg, "rl"), run.cfg.cluster.gpus_per_node,
                semantics=r.semantics)


def _rl_train(run) -> str:
    """The filter's band, or with the filter off (the paper's protocol) every candidate of the op range."""
    if run.cfg.filter.enable:
        return run.path("filter", "rl.parquet")
    from interplay_verl.data.rl import write_rl_parquet
    from interplay_verl.data.rows import load_rows

    return write_rl_parquet(load_rows(run.path("candidates")), run.path("rl", "train.parquet"))


def _rl_validation(run) -> str:
    """RL validates on held-out problems at its own ops: the evaluation rows of the filter's op range
    (disjoint from every training and candidate row), not on its training prompts."""
    from interplay_verl.data.rl import write_rl_parquet
    from interplay_verl.data.rows import load_rows
    from interplay_verl.problems.mixtures import op_weights

    ops = set(op_weights(run.cfg.filter.ops))
    rows = [r for r in load_rows(run.path("eval_sets")) if int(r["op"]) in ops]
    if not rows:
        raise ValueError(f"rl: no held-out rows at ops {sorted(ops)} in {run.path('eval_sets')} for validation; "
                         "add a split covering filter.ops to evaluate.splits")
    return write_rl_parquet(rows, run.path("rl", "val.parquet"))


def _evaluate(run, name: str, model: str, target: str) -> None:
    from interplay_verl.evaluation import evaluate as evaluate_model

    e = run.cfg.evaluate
    if os.path.exists(os.path.join(target, "manifest.json")):
        return  # this checkpoint's evaluation finished before a kill
    run.log(f"evaluate: {name} ({model})")
    evaluate_model(model, run.path("eval_sets"), target, max_new_tokens=e.max_new_tokens, quiet=run.quiet,
                   n_samples=e.n_samples, temperature=e.temperature, seed=run.cfg.seed,
                   placement=placement(run), semantics=e.semantics)


def _evaluation_dir(run, name: str) -> str:
    from interplay_verl.study_report import evaluation_parts

    return run.path(*evaluation_parts(name))


def eval_base(run) -> None:
    """The pre-trained base's evaluation: a stage of its own, so arms sharing a base share it too."""
    _evaluate(run, "base", run.path("pretrain", "hf"), run.path("eval_base"))


def eval_mid(run) -> None:
    """The mid-trained checkpoint RL starts from: arms starting from the same one share it."""
    _evaluate(run, "mid", _rl_start(run), run.path("eval_mid"))


def evaluate(run) -> None:
    for name, model in checkpoints(run):
        if name not in ("base", "mid"):
            _evaluate(run, name, model, _evaluation_dir(run, name))


def report(run) -> None:
    """Base, mid, RL side by side, on the paper's splits, on splits relative to this run's
    pre-training ops (ID = 2..M) and on the RL ops beyond them (``rl_ops``), with intervals."""
    from interplay_verl.comparison import run as compare
    from interplay_verl.problems.mixtures import op_weights

    names = [name for name, _ in checkpoints(run)]
    top, rl_top = max(op_weights(run.cfg.pretrain.ops)), max(op_weights(run.cfg.filter.ops))
    compare([_evaluation_dir(run, n) for n in names], run.path("report"), names, id_top=top,
            extra_splits={"rl_ops": (top + 1, rl_top)} if rl_top > top else None)


GENERATOR = ("data.style", *(f"data.{k}" for k in SAMPLER_OPTIONS))
# settings added after runs existed: in a stage key only when not at their defaults (runner.stage_settings)
OPTIONAL_SETTINGS = {f"data.{k}": getattr(DataConfig(), k) for k in SAMPLER_OPTIONS}
EVALUATION = ("evaluate.n_samples", "evaluate.temperature", "evaluate.max_new_tokens", "evaluate.semantics", "seed")
for _stage in (
    Stage("eval_sets", eval_sets, (*GENERATOR, "evaluate.splits", "evaluate.contexts", "evaluate.modes",
                                   "evaluate.per_op", "data.eval_from")),
    Stage("data", data, ("seed", *GENERATOR, "data.modes", "data.contexts", "pretrain.ops", "pretrain.tokens",
                         "pretrain.context_ops")),
    Stage("tokenizer", tokenizer, ("data.vocab_size",), ("data",)),
    Stage("corpus", corpus, ("data.block_size",), ("tokenizer", "eval_sets")),
    Stage("init", init, ("model.size", "seed"), ("tokenizer",)),
    Stage("pretrain", pretrain, ("pretrain.config", "pretrain.overrides", "device"), ("corpus", "init")),
    Stage("eval_base", eval_base, EVALUATION, ("pretrain", "eval_sets")),
    Stage("mid_data", mid_data, ("seed", *GENERATOR, "data.modes", "data.contexts", "data.block_size", "midtrain.enable",
                                 "midtrain.ops", "midtrain.tokens", "midtrain.context_ops"), ("tokenizer", "eval_sets"),
          enabled=lambda cfg: cfg.midtrain.enable),
    Stage("midtrain", midtrain, ("midtrain.enable", "midtrain.config", "midtrain.overrides", "device"),
          ("pretrain", "mid_data"),
          enabled=lambda cfg: cfg.midtrain.enable),
    Stage("eval_mid", eval_mid, (*EVALUATION, "rl.start_step"), ("midtrain", "eval_sets"),
          enabled=lambda cfg: cfg.midtrain.enable),
    Stage("candidates", candidates, ("seed", *GENERATOR, "filter.ops", "filter.modes", "filter.contexts",
                                     "filter.candidates_per_op", "data.candidates_from"),
          ("data", "mid_data", "eval_sets")),
    Stage("filter", edge_filter, ("filter", "rl.semantics", "rl.start_step", "seed"), ("midtrain", "candidates"),
          enabled=lambda cfg: cfg.filter.enable),
    Stage("rl", rl, ("rl", "device"), ("filter", "candidates", "midtrain")),
    Stage("evaluate", evaluate, EVALUATION, ("rl",)),
    Stage("report", report, ("pretrain.ops", "filter.ops"), ("eval_base", "eval_mid", "evaluate")),
):
    register_stage(_stage)
