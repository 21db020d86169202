"""``interplay-verl eval-sets``: the held-out evaluation problems, per split, as rows.

The paper reports by split: ID (op 2-10), OOD-edge (11-14), OOD-hard (15-20)
(docs/method.md#7-passk). These sets are generated with a fixed seed, so every run and every
checkpoint is scored on the same problems, then any problem that a training or RL candidate
set also holds is dropped (small ops have small problem spaces, so independently generated
sets do share problems) and the result is checked disjoint from each of them. Evaluation
reads them like any other rows.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from typing import Optional
from collections.abc import Sequence

from interplay_verl.metrics import SPLITS, split_of, split_ops, splits_ops
from interplay_verl.problems.rows import STYLES
from interplay_verl.problems.sampler import MODES, GenerationError, SamplerConfig

EVAL_SEED = 12345


def eval_rows(per_op: int, splits: Sequence[str], contexts: Sequence[str], modes: Sequence[str],
              seed: int = EVAL_SEED, style: str = "interplay", sampler: SamplerConfig = SamplerConfig()) -> list[dict]:
    from interplay_verl.problems.contexts import load_context
    from interplay_verl.problems.rows import generate_row

    ops = splits_ops(splits)
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise ValueError(f"modes {bad}: choose from {', '.join(MODES)}")
    loaded = [load_context(c) for c in contexts]
    return [generate_row(op, mode, ctx, seed, i, sampler, style) for op in ops
            for ctx in loaded for mode in modes for i in range(per_op)]


def write_eval_sets(out: str, *, per_op: int = 10, splits: Sequence[str] = tuple(SPLITS), contexts: Sequence[str] = ("zoo",),
                    modes: Sequence[str] = ("forward",), seed: int = EVAL_SEED,
                    disjoint_from: Sequence[str] = (), source: Optional[str] = None, style: str = "interplay",
                    sampler: SamplerConfig = SamplerConfig()) -> dict:
    """Write ``out/rows.parquet`` (+ manifest): ``per_op`` problems per op, context and mode of each
    split, minus every id in the ``disjoint_from`` row sets; raises if any overlap remains.

    ``source``: take the problems from these rows (e.g. imported released rows) instead of generating
    (``style`` and ``sampler`` then do not apply)."""
    import pyarrow as pa

    from interplay_verl.atomic import atomic_write_parquet
    from interplay_verl.data.rows import read_ids, schema, select_rows
    from interplay_verl.manifest import invalidate, write_manifest

    if not source:  # the checks generate() makes, before any work
        sampler.check()
        if style != "interplay" and sampler.changed():
            raise ValueError(f"style {style}: {sorted(sampler.changed())} apply to style interplay only")
    banned: set[str] = set().union(*(read_ids(p) for p in disjoint_from)) if disjoint_from else set()
    splits_ops(splits)  # the splits' own checks, before any work
    if source:
        rows = []
        for split in splits:  # each split from rows no training or RL set holds; none may come out empty
            ops = split_ops(split)
            try:
                rows += select_rows(source, ops, contexts, modes, per_op, exclude=banned)
            except ValueError as exc:
                raise ValueError(f"evaluation split {split}: {exc}") from None
    else:
        rows = eval_rows(per_op, splits, contexts, modes, seed, style, sampler)
    kept = [r for r in rows if r["id"] not in banned]
    if not kept:
        raise ValueError(f"{out}: every evaluation problem is also in {list(disjoint_from)}")
    invalidate(out)
    atomic_write_parquet(pa.Table.from_pylist(kept, schema=schema()), os.path.join(out, "rows.parquet"))
    leaked = read_ids(out) & banned  # the file as written, against the ids read once above
    if leaked:
        raise RuntimeError(f"{out}: {len(leaked)} evaluation rows overlap {list(disjoint_from)} after exclusion")
    result = {"rows": len(kept), "excluded": len(rows) - len(kept),
              "by_split": dict(sorted(Counter(split_of(int(r["op"])) for r in kept).items()))}
    write_manifest(out, config={"per_op": per_op, "splits": list(splits), "contexts": list(contexts),
                                "modes": list(modes), "disjoint_from": [os.path.abspath(p) for p in disjoint_from],
                                "source": os.path.abspath(source) if source else None,
                                **({"style": style} if style != "interplay" else {}),
                                **({"sampler": sampler.changed()} if sampler.changed() and not source else {})},
                   seed=seed, kind="eval_sets", **result)
    return result


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="interplay-verl eval-sets", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", required=True, help="directory for rows.parquet + manifest.json")
    p.add_argument("--per-op", type=int, default=10, help="problems per op, context and mode")
    p.add_argument("--splits", default=",".join(SPLITS), help=f"of {', '.join(SPLITS)}, or op ranges (2-8)")
    p.add_argument("--contexts", default="zoo", help="built-in names or context files, comma-separated")
    p.add_argument("--modes", default="forward", help="forward, reverse or both")
    p.add_argument("--seed", type=int, default=EVAL_SEED)
    p.add_argument("--disjoint-from", nargs="*", default=[], metavar="ROWS",
                   help="row sets (training data, RL candidates) whose problems must not be evaluated")
    p.add_argument("--from", dest="source", metavar="ROWS",
                   help="take the problems from these rows (e.g. `interplay-verl import` output) instead of generating")
    p.add_argument("--style", default="interplay", choices=STYLES, help="generator style (as `generate --style`)")
    from interplay_verl.problems.generate import add_sampler_arguments

    add_sampler_arguments(p)
    args = p.parse_args(argv)
    from interplay_verl.command import report
    from interplay_verl.problems.generate import sampler_from

    def items(text: str) -> list[str]:
        return [x.strip() for x in text.split(",") if x.strip()]

    return report("eval-sets", lambda: write_eval_sets(
        args.out, per_op=args.per_op, splits=items(args.splits), contexts=items(args.contexts), modes=items(args.modes),
        seed=args.seed, disjoint_from=args.disjoint_from, source=args.source, style=args.style,
        sampler=sampler_from(args)), (ValueError, OSError, GenerationError))


if __name__ == "__main__":
    sys.exit(main())
