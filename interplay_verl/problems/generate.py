"""``interplay-verl generate``: problems -> parquet shards + manifest, parallel and resumable.

The work is planned as shards, each fully determined by (seed, context, mode, op, first row
index, row count), so a shard's bytes do not depend on how many workers ran or in what order,
nor on PYTHONHASHSEED. A shard is written under a temporary name and renamed when complete:
after a kill, the out directory holds only whole shards, and ``--resume`` writes the missing
ones, giving the same bytes as an uninterrupted run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from typing import Optional
from collections.abc import Iterable

from interplay_verl.atomic import PARTIAL_PREFIX, atomic_write_parquet, atomic_write_text, file_sha256
from interplay_verl.data.rows import schema
from interplay_verl.problems.contexts import BUILTIN, ContextError, load_context
from interplay_verl.problems.mixtures import MixtureError, allocate, context_weights, op_weights
from interplay_verl.problems.rows import GENERATOR_VERSION, STYLES, generate_row
from interplay_verl.problems.sampler import (LETTER_ORDERS, MAX_OP, MODES, SAMPLER_OPTIONS, GenerationError,
                                             SamplerConfig, sampler_options)

PLAN_FILE = "plan.json"


@dataclass(frozen=True)
class Shard:
    context: str  # built-in name or path of a context file
    context_name: str
    mode: str
    op: int
    start: int
    count: int
    number: int

    @property
    def filename(self) -> str:
        return f"{self.context_name}-{self.mode}-op{self.op:02d}-{self.number:05d}.parquet"


_CONTEXT_CACHE: dict[str, object] = {}


def write_shard(shard: Shard, seed: int, out_dir: str, style: str = "interplay",
                sampler: SamplerConfig = SamplerConfig()) -> tuple[str, int, str]:
    """Generate one shard and publish it atomically; returns (filename, rows, sha256)."""
    import pyarrow as pa

    ctx = _CONTEXT_CACHE.get(shard.context) or _CONTEXT_CACHE.setdefault(shard.context, load_context(shard.context))
    rows = [generate_row(shard.op, shard.mode, ctx, seed, i, sampler, style)
            for i in range(shard.start, shard.start + shard.count)]
    table = pa.Table.from_pylist(rows, schema=schema())
    final = os.path.join(out_dir, shard.filename)
    atomic_write_parquet(table, final)
    return shard.filename, len(rows), file_sha256(final)


def estimate_tokens(ops: Iterable[int], modes: list[str], context: str, tokenizer: Optional[str],
                    style: str = "interplay", sampler: SamplerConfig = SamplerConfig()) -> dict[int, float]:
    """Mean tokens per training document for each op, from a fixed sample (so plans are reproducible)."""
    ctx = load_context(context)
    count = None
    if tokenizer:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(tokenizer)
        count = lambda text: len(tok(text, add_special_tokens=False)["input_ids"]) + 1  # noqa: E731  (+ EOS)
    out = {}
    for op in ops:
        texts = [generate_row(op, mode, ctx, -1, i, sampler, style)["text"] for mode in modes for i in range(8)]
        # without a tokenizer: ~4 characters per token for this English-and-digits text
        out[op] = sum(count(t) if count else len(t) / 4 for t in texts) / len(texts)
    return out


def plan(ops: dict[int, float], contexts: dict[str, float], modes: list[str], per_op: Optional[int],
         tokens: Optional[int], shard_size: int, tokenizer: Optional[str] = None,
         context_ops: Optional[dict[str, dict[int, float]]] = None, rows: Optional[int] = None,
         style: str = "interplay", sampler: SamplerConfig = SamplerConfig()) -> list[Shard]:
    """The shards of a generation: rows per op (``per_op`` each, ``rows`` split by the op weights, or a
    ``tokens`` budget split by them), then per mode, then per context holding that op.

    ``context_ops`` gives a context its own op mixture (the paper's context B seen only at op 2 while
    A covers op 2-20); the mixture over (context, op) is then share(context) x weight(op | context)."""
    if sum(x is not None for x in (per_op, tokens, rows)) != 1:
        raise ValueError("give exactly one of --per-op, --rows and --tokens")
    context_ops = context_ops or {}
    joint = {c: context_ops.get(c, ops) for c in contexts}  # each context's op mixture
    op_share = {}
    for c, weights in joint.items():
        for op, w in weights.items():
            op_share[op] = op_share.get(op, 0.0) + contexts[c] * w
    op_share = {op: op_share[op] for op in sorted(op_share)} if context_ops else ops
    if per_op is not None:
        per_op_counts = {op: per_op * len(modes) for op in op_share}
    elif rows is not None:
        per_op_counts = {op: n for op, n in allocate(rows, op_share).items() if n > 0}
    else:
        est = estimate_tokens(op_share, modes, next(iter(contexts)), tokenizer, style, sampler)
        per_op_counts = {op: max(1, round(w * tokens / est[op])) for op, w in op_share.items()}
    shards = []
    names = {c: load_context(c).name for c in contexts}
    for op, n in per_op_counts.items():
        holders = contexts if not context_ops else {c: contexts[c] * joint[c].get(op, 0.0) / op_share[op]
                                                    for c in contexts if joint[c].get(op, 0.0) > 0}
        for mode, n_mode in allocate(n, {m: 1 / len(modes) for m in modes}).items():
            for context, n_ctx in allocate(n_mode, holders).items():
                for number, start in enumerate(range(0, n_ctx, shard_size)):
                    shards.append(Shard(context, names[context], mode, op, start, min(shard_size, n_ctx - start), number))
    return shards


def _run_local(todo: list[Shard], seed: int, out: str, workers: int, progress,
               style: str = "interplay", sampler: SamplerConfig = SamplerConfig()) -> list[tuple[str, int, str]]:
    results = []
    if workers <= 1:
        for shard in todo:
            results.append(write_shard(shard, seed, out, style, sampler))
            progress.update(shard.count)
        return results
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(workers) as pool:
        jobs = [(s, seed, out, style, sampler) for s in todo]
        for result in pool.imap_unordered(_write_star, jobs, chunksize=1):
            results.append(result)
            progress.update(result[1])
    return results


def _write_star(args):
    return write_shard(*args)


def _run_ray(todo: list[Shard], seed: int, out: str, progress, style: str = "interplay",
             sampler: SamplerConfig = SamplerConfig()) -> list[tuple[str, int, str]]:
    import ray

    address = os.environ.get("RAY_ADDRESS") or None
    # no cluster given: a private local Ray, reachable from this machine only
    local = {} if address else {"_node_ip_address": "127.0.0.1", "include_dashboard": False}
    ray.init(address=address, ignore_reinit_error=True, **local)
    task = ray.remote(write_shard)
    pending = [task.remote(s, seed, out, style, sampler) for s in todo]
    results = []
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        result = ray.get(done[0])
        results.append(result)
        progress.update(result[1])
    return results


def generate(out: str, ops: str, *, per_op: Optional[int] = None, tokens: Optional[int] = None,
             rows: Optional[int] = None, modes: str = "forward", contexts: str = "zoo",
             context_ops: Optional[dict[str, str]] = None, seed: int = 0, workers: int = 1, ray: bool = False,
             shard_size: int = 5000, tokenizer: Optional[str] = None, resume: bool = False,
             quiet: bool = False, style: str = "interplay", sampler: SamplerConfig = SamplerConfig()) -> dict:
    """Generate the rows of an op/context/mode mixture into parquet shards under ``out`` (+ manifest).

    Exactly one of ``per_op`` (problems per op and mode), ``rows`` (a total split by the mixture's
    weights) and ``tokens`` (a budget split by them) sizes the run. ``context_ops`` maps a context to
    its own op mixture (others follow ``ops``). ``sampler``: the problems' value range and the
    solutions' letters (style interplay). ``resume`` finishes a killed run with the same plan."""
    from tqdm import tqdm

    from interplay_verl.manifest import write_manifest

    # every configuration error surfaces here, before any shard is written
    mode_list = [m.strip() for m in modes.split(",") if m.strip()]
    bad = [m for m in mode_list if m not in MODES]
    if bad or not mode_list:
        raise MixtureError(f"--modes {modes!r}: use forward, reverse or both")
    if style not in STYLES:
        raise MixtureError(f"--style {style!r}: choose one of {', '.join(STYLES)}")
    try:
        sampler.check()
    except ValueError as exc:
        raise MixtureError(f"--{exc}".replace("_", "-", 1)) from None
    if style != "interplay" and sampler.changed():
        raise MixtureError(f"--style {style}: {sampler_options(lambda k: '--' + k.replace('_', '-'))} apply "
                           "to style interplay only")
    if sum(x is not None for x in (per_op, tokens, rows)) != 1:
        raise MixtureError("give exactly one of --per-op, --rows and --tokens")
    for name, value in (("--per-op", per_op), ("--rows", rows), ("--tokens", tokens)):
        if value is not None and value < 1:
            raise MixtureError(f"{name} {value}: must be at least 1")
    context_shares = {}
    for name, w in context_weights(contexts).items():
        load_context(name)  # validates built-ins and user files alike
        context_shares[name] = w
    weights = op_weights(ops)
    own_ops = {}
    for name, spec in (context_ops or {}).items():
        if name not in context_shares:
            raise MixtureError(f"--context-ops {name}={spec}: {name!r} is not one of the contexts "
                               f"({', '.join(context_shares)})")
        own_ops[name] = op_weights(str(spec))
    for spec, table in ((ops, weights), *((f"{c}={s}", own_ops[c]) for c, s in (context_ops or {}).items())):
        if not all(2 <= op <= MAX_OP for op in table):
            raise MixtureError(f"--ops {spec!r}: ops must lie in 2..{MAX_OP}")
    shards = plan(weights, context_shares, mode_list, per_op, tokens, shard_size, tokenizer, own_ops, rows, style,
                  sampler)

    os.makedirs(out, exist_ok=True)
    config = {"ops": ops, "op_weights": weights, "contexts": context_shares, "modes": mode_list, "per_op": per_op,
              "tokens": tokens, "shard_size": shard_size, "tokenizer": tokenizer,
              "generator_version": GENERATOR_VERSION}
    if own_ops:  # only when used: a plan written before these options existed still resumes
        config["context_ops"] = {c: {"spec": str(context_ops[c]), "op_weights": w} for c, w in own_ops.items()}
    if rows is not None:
        config["rows"] = rows
    if style != "interplay":
        config["style"] = style
    if sampler.changed():
        config["sampler"] = sampler.changed()
    plan_doc = json.dumps({"config": config, "seed": seed, "shards": [asdict(s) for s in shards]},
                          sort_keys=True, indent=1)
    plan_path = os.path.join(out, PLAN_FILE)
    if os.path.exists(plan_path):
        with open(plan_path) as f:
            if f.read() != plan_doc:
                raise MixtureError(f"{out} holds a different generation (its {PLAN_FILE} differs); choose a new --out")
        if not resume:
            raise MixtureError(f"{out} already has a generation; pass --resume to finish it, or choose a new --out")
    atomic_write_text(plan_path, plan_doc)

    for stale in [f for f in os.listdir(out) if f.startswith(PARTIAL_PREFIX)]:  # left by a killed run
        os.unlink(os.path.join(out, stale))
    todo = [s for s in shards if not os.path.exists(os.path.join(out, s.filename))]
    total = sum(s.count for s in shards)
    start = time.time()
    with tqdm(total=total, initial=total - sum(s.count for s in todo), unit="problem",
              desc="generate", disable=quiet) as progress:
        if ray:
            written = _run_ray(todo, seed, out, progress, style, sampler)
        else:
            written = _run_local(todo, seed, out, workers, progress, style, sampler)
    digests = {name: sha for name, _, sha in written}
    files = [{"file": s.filename, "rows": s.count, "context": s.context_name, "mode": s.mode, "op": s.op,
              "sha256": digests.get(s.filename) or file_sha256(os.path.join(out, s.filename))} for s in shards]
    write_manifest(out, config=config, seed=seed, kind="problems", rows=total, shards=files)
    return {"rows": total, "shards": len(shards), "written": len(todo), "seconds": round(time.time() - start, 2)}


def add_sampler_arguments(p: argparse.ArgumentParser) -> None:
    """--max-value, --max-distractors, --max-entities, --letters: the CPU-scale knobs (``generate`` and ``eval-sets``)."""
    p.add_argument("--max-value", type=int, default=SamplerConfig.max_value,
                   help="largest value of any quantity (style interplay; the paper's is 1000)")
    p.add_argument("--max-distractors", type=int, default=SamplerConfig.max_distractors,
                   help="distractor names reserved, 1 .. this (style interplay; the paper's is 4); spare and "
                        "unused names of the structure are stated too; 0: only the quantities the answer needs")
    p.add_argument("--max-entities", type=int, default=SamplerConfig.max_entities,
                   help="entities (zoos, schools) a problem spreads over, 1 .. this, when its names fit in fewer "
                        "(style interplay; default 3)")
    p.add_argument("--letters", default=SamplerConfig.letters, choices=LETTER_ORDERS,
                   help="the solutions' variable letters: random (the paper's), or ordered: a, b, c, ... as defined")


def sampler_from(args: argparse.Namespace) -> SamplerConfig:
    return SamplerConfig(**{k: getattr(args, k) for k in SAMPLER_OPTIONS})


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="interplay-verl generate", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--ops", default="2-20", help="op range (2-20), RL range with replay (11-14_plus), "
                   "preset (id2-10_0.2easy_0.3medium_0.5hard, cpt0.2-uniform_0.8-11-14) or table (2:0.5,3:0.5)")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--per-op", type=int, help="problems per op and per mode")
    size.add_argument("--rows", type=int, help="problems in all, split over ops by the mixture weights")
    size.add_argument("--tokens", type=int, help="token budget, split over ops by the mixture weights")
    p.add_argument("--tokenizer", help="HF tokenizer dir to count tokens with (default: ~4 characters per token)")
    p.add_argument("--modes", default="forward", help="forward, reverse or forward,reverse")
    p.add_argument("--contexts", default="zoo", help=f"built-ins {','.join(BUILTIN)} or context files; "
                   "uniform (zoo,school) or weighted (zoo:0.99,school:0.01)")
    p.add_argument("--context-ops", action="append", default=[], metavar="CONTEXT=OPS",
                   help="a context's own op mixture, e.g. school=2 (B only at op 2) or zoo=2-20; repeatable")
    p.add_argument("--style", default="interplay", choices=STYLES,
                   help="interplay: ours (exact op by construction); paper: the paper's problems and wording")
    add_sampler_arguments(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output directory (parquet shards, plan.json, manifest.json)")
    p.add_argument("--workers", type=int, default=1, help="local processes")
    p.add_argument("--ray", action="store_true", help="run shards as Ray tasks on the cluster in RAY_ADDRESS")
    p.add_argument("--shard-size", type=int, default=5000, help="rows per parquet shard")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from interplay_verl.command import report

    options = {k: v for k, v in vars(args).items() if k not in ("out", "ops", "context_ops", *SAMPLER_OPTIONS)}
    options["sampler"] = sampler_from(args)

    def work() -> dict:
        own = {}
        for item in args.context_ops:
            name, sep, spec = item.partition("=")
            if not sep or not name.strip() or not spec.strip():
                raise MixtureError(f"--context-ops {item!r}: write CONTEXT=OPS, e.g. school=2")
            if name.strip() in own:
                raise MixtureError(f"--context-ops: {name.strip()!r} given twice")
            own[name.strip()] = spec.strip()
        return generate(args.out, args.ops, context_ops=own, **options)

    return report("generate", work, (MixtureError, ContextError, ValueError, GenerationError))


if __name__ == "__main__":
    sys.exit(main())
