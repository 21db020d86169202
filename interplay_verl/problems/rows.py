"""One generated problem as one row (docs/method.md#4-rows-and-splits), deterministic from (seed, op, mode, context, index).

Every random choice comes from ``random.Random`` seeded with a string, which Python hashes
with SHA-512, not with ``hash()``: rows are identical across runs, processes, machines and
PYTHONHASHSEED values. The ``id`` is a content hash of the canonical graph and the wording,
so two rows are the same problem exactly when their ids are equal.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from interplay_verl.problems import paper_style
from interplay_verl.problems.contexts import Context
from interplay_verl.problems.render import problem_sentences, question, rl_prompt, solution, training_text
from interplay_verl.problems.sampler import GenerationError, SamplerConfig, sample_problem

GENERATOR_VERSION = "1"
STYLES = ("interplay", paper_style.STYLE)


def problem_rng(seed: int, op: int, mode: str, context: str, index: int, attempt: int = 0) -> random.Random:
    retry = f"/retry{attempt}" if attempt else ""  # a redraw's own stream (_draw); the first keeps its bytes
    return random.Random(f"interplay/{GENERATOR_VERSION}/{seed}/{context}/{mode}/op{op}/{index}{retry}")


REDRAWS = 16


def _draw(op: int, mode: str, context: Context, seed: int, index: int, config: SamplerConfig):
    """(problem, the rng that drew it). A narrowed value range (``max_value``) can leave the
    construction with no valid action: small values cannot carry every op in reverse mode. Such a
    draw is redrawn from a stream derived from the row's, so only rows that would have failed
    change. With the paper's range the construction never fails, and a failure is a bug."""
    for attempt in range(REDRAWS):
        rng = problem_rng(seed, op, mode, context.name, index, attempt)
        try:
            return sample_problem(op, mode, context, rng, config), rng
        except GenerationError:
            if config.max_value >= SamplerConfig.max_value or attempt == REDRAWS - 1:
                raise
    raise AssertionError("unreachable")


def canonical_graph(graph: dict) -> str:
    return json.dumps(graph, sort_keys=True, separators=(",", ":"))


def content_id(graph_json: str, problem: str, question_text: str) -> str:
    """Hash of the canonical graph and the wording (NUL-separated, so fields cannot run together)."""
    return hashlib.sha256("\0".join((graph_json, problem, question_text)).encode()).hexdigest()[:20]


def generate_row(op: int, mode: str, context: Context, seed: int, index: int,
                 config: SamplerConfig = SamplerConfig(), style: str = "interplay") -> dict[str, Any]:
    """One row in a generator style: ``interplay`` (ours, exact op by construction) or ``paper``
    (the paper's problems and wording, ``problems/paper_style.py``)."""
    if style not in STYLES:
        raise ValueError(f"style {style!r}: choose one of {', '.join(STYLES)}")
    if style == "paper":
        if config != SamplerConfig():
            raise ValueError(f"style 'paper' draws the paper's problems; {config.changed()} applies to style 'interplay'")
        rng = random.Random(f"{paper_style.VERSION}/{seed}/{context.name}/{mode}/op{op}/{index}")
        problem_text, question_text, body, answer, gold = paper_style.sample(op, mode, context, rng)
        return _row(op, mode, context, seed, index, problem_text, question_text, body, answer,
                    canonical_graph(gold), paper_style.VERSION)
    problem, rng = _draw(op, mode, context, seed, index, config)
    sentences = problem_sentences(problem)
    rng.shuffle(sentences)
    problem_text = " ".join(sentences)
    question_text = question(problem, context)
    body, answer = solution(problem, rng, config.letters == "ordered")
    return _row(op, mode, context, seed, index, problem_text, question_text, body, answer,
                canonical_graph(problem.gold_graph()), GENERATOR_VERSION)


def _row(op: int, mode: str, context: Context, seed: int, index: int, problem_text: str, question_text: str,
         body: str, answer: str, graph: str, version: str) -> dict[str, Any]:
    return {
        "id": content_id(graph, problem_text, question_text),
        "problem": problem_text,
        "question": question_text,
        "solution": f"{body} Answer: {answer}.",
        "answer": answer,
        "op": op,
        "context": context.name,
        "mode": mode,
        "graph": graph,
        "text": training_text(problem_text, question_text, body, answer),
        "prompt": rl_prompt(problem_text, question_text),
        "seed": seed,
        "index": index,
        "generator_version": version,
    }
