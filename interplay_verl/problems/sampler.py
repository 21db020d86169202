"""Sample a problem graph with exactly the requested op, by construction.

The paper's generator draws random graphs until op matches (and solves reverse problems with
sympy). Here the necessary part is built bottom-up as a sequence of quantities, each choosing
its relation among the actions that keep three invariants, so the last one, the target,
lands on op exactly and no draw is ever thrown away (with the paper's value range; a narrowed one
can leave a draw with no valid action, which ``rows._draw`` redraws):

- *budget*: R, the op still to spend, can always be closed by one target quantity over the
  "open" quantities (those nothing uses yet): R >= 1 with one open, R >= m with m open;
- *names*: enough unused instance names remain to spend R (an action spends at most 2 op
  per new name on the way: a constant plus one parent);
- *values*: every value is an integer in [0, max_value]; the open values sum to at most
  max_value, so the closing sum can never overflow, and a difference is always the larger
  minus the smaller.

Reverse mode hides the first leaf (x); every necessary value is then coef * x + offset. An
action that would cancel x (coef 0 from an input that had it) is never taken, and at most one
open quantity carries x, so the closing sum cannot cancel it either: the target's equation
a*x + b = c always has a != 0.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Optional

from interplay_verl.problems.contexts import MAX_STRUCTURE_SIDE, Context
from interplay_verl.problems.graph import ADD, AGGREGATE, CONST, COPY, DIFF, MUL, SUM, Problem, Quantity

MODES = ("forward", "reverse")
MAX_OP = 40  # a 5 x 5 structure has names for op <= 46; keep room for distractors
MAX_OPEN = 3  # keeps the target's sum at <= 4 operands
INVALID, GOING, CLOSING = 0, 1, 2
MIN_MAX_VALUE = 10


LETTER_ORDERS = ("random", "ordered")
SAMPLER_OPTIONS = ("max_value", "max_distractors", "max_entities", "letters")  # what the CLIs and the pipeline's data section set


def sampler_options(spell=lambda name: name) -> str:
    """The options as errors list them ("a, b and c"), each spelt for its place (``--max-value``,
    ``data.max_value``): a message written by hand forgot the option added after it."""
    names = [spell(name) for name in SAMPLER_OPTIONS]
    return f"{', '.join(names[:-1])} and {names[-1]}"


@dataclass(frozen=True)
class SamplerConfig:
    """The knobs of a drawn problem and its written solution. The defaults are the paper's (values
    up to 1000, up to 4 distractors, letters drawn at random); a CPU-scale run narrows them
    (docs/paper-differences.md)."""

    max_value: int = 1000
    number_range: int = 5  # constants k in 1 .. number_range - 1
    # distractor names reserved, 1 .. this; spare and unused structure names add more. 0: no quantity the
    # answer does not need is stated (a CPU-scale choice: docs/paper-differences.md)
    max_distractors: int = 4
    finish_bias: float = 0.7  # chance to close with the target as soon as the budget allows
    letters: str = "random"  # the solution's variable letters: "random", or "ordered" (a, b, c, ... as defined)
    # entities (a zoo, a school) a problem is spread over when its names fit fewer: 1 .. this. With
    # one, every name shares its entity and a quantity is found by its item alone (docs/paper-differences.md)
    max_entities: int = 3

    def changed(self) -> dict:
        """The fields that differ from the defaults: what a plan or manifest records (so one
        written before a field existed still matches)."""
        default = SamplerConfig()
        return {k: v for k, v in asdict(self).items() if getattr(default, k) != v}

    def check(self) -> None:
        """Refuse values the construction cannot honour, naming the option and its range."""
        if self.letters not in LETTER_ORDERS:
            raise ValueError(f"letters {self.letters!r}: choose one of {', '.join(LETTER_ORDERS)}")
        if not 1 <= self.max_entities <= MAX_STRUCTURE_SIDE:
            raise ValueError(f"max_entities {self.max_entities}: must be in 1..{MAX_STRUCTURE_SIDE}")
        if self.max_distractors < 0:
            raise ValueError(f"max_distractors {self.max_distractors}: must be at least 0")
        if self.max_value < MIN_MAX_VALUE:
            raise ValueError(f"max_value {self.max_value}: must be at least {MIN_MAX_VALUE} "
                             f"(constants reach {self.number_range - 1}, and sums of them must fit)")


class GenerationError(RuntimeError):
    """An invariant the construction relies on did not hold: a bug with the paper's value range; with
    a narrowed one, a draw whose values cannot carry the op (``rows._draw`` redraws it)."""


@dataclass(slots=True)
class _Action:
    relation: str
    cost: int
    parents: tuple[Quantity, ...]
    const: Optional[int]
    value: int
    coef: int
    offset: int
    consumes: tuple[Quantity, ...]  # open quantities this one uses up
    weight: float
    entity: Optional[str] = None  # aggregates: whose total


def _min_close(m: int) -> int:
    return 1 if m <= 1 else m


def _names_needed(remaining: int, m: int) -> int:
    return 1 + (max(0, remaining - _min_close(m)) + 1) // 2


class _Builder:
    def __init__(self, op: int, mode: str, context: Context, rng: random.Random, cfg: SamplerConfig):
        if not 2 <= op <= MAX_OP:
            raise ValueError(f"op must be in 2..{MAX_OP}, got {op}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.op, self.mode, self.ctx, self.rng, self.cfg = op, mode, context, rng, cfg
        self.problem = Problem(context=context.name, mode=mode)
        self._structure()
        self.open: list[Quantity] = []
        self.open_sum = 0  # sum of open values (<= max_value, so the closing sum fits)
        self.carriers = 0  # open quantities whose value depends on x (reverse mode: <= 1)
        self.done: list[Quantity] = []
        self.remaining = op

    # ---------------------------------------------------------------- structure
    def _structure(self) -> None:
        rng = self.rng
        names_needed = 1 + _names_needed(self.op - 1, 1)  # the first quantity is always a leaf
        n_distractors = rng.randint(1, self.cfg.max_distractors) if self.cfg.max_distractors else 0
        cap = MAX_STRUCTURE_SIDE * MAX_STRUCTURE_SIDE
        total = min(cap, names_needed + (rng.randint(0, 2) + n_distractors if n_distractors else 0))
        if names_needed > cap:
            raise ValueError(f"op {self.op} needs {names_needed} quantities; a structure holds at most {cap}")
        ent_group = rng.choice(sorted(self.ctx.entities))
        item_group = rng.choice(sorted(self.ctx.items))
        ents = list(self.ctx.entities[ent_group])
        items = list(self.ctx.items[item_group])
        side_items = min(MAX_STRUCTURE_SIDE, len(items))
        n_ent = min(MAX_STRUCTURE_SIDE, len(ents), max(-(-total // side_items), rng.randint(1, self.cfg.max_entities)))
        total = min(total, n_ent * side_items)
        if total < names_needed:
            raise ValueError(f"context {self.ctx.name}: groups too small for op {self.op}")
        entities = rng.sample(ents, n_ent)
        # spread `total` instances over the entities, each 1..side_items
        counts = [1] * n_ent
        for _ in range(total - n_ent):
            choices = [i for i in range(n_ent) if counts[i] < side_items]
            counts[rng.choice(choices)] += 1
        self.order: list[str] = []  # instance names, entity by entity: necessary ones are taken first
        self.instances_of: dict[str, list[str]] = {}
        for entity, count in zip(entities, counts):
            names = []
            for item in rng.sample(items, count):
                name = f"{item.singular} in {entity}"
                self.problem.entity_of[name] = entity
                self.problem.item_of[name] = item.plural
                names.append(name)
            self.instances_of[entity] = names
            self.order.extend(names)
        self.next_name = 0
        self.missing = {e: len(n) for e, n in self.instances_of.items()}  # instances not yet necessary
        self.complete: list[str] = []  # entities whose total may be taken now
        self.reserved = min(n_distractors, total - names_needed)  # kept for distractors

    @property
    def names_left(self) -> int:
        """Instance names the necessary part may still take."""
        return len(self.order) - self.next_name - self.reserved

    # ---------------------------------------------------------------- actions
    def _k(self, low: int = 1) -> int:
        return low + int(self.rng.random() * (self.cfg.number_range - low))

    def _candidates(self) -> list[_Action]:
        rng, acts = self.rng, []
        opn = self.open
        reused = [q for q in self.done if q not in opn]
        picks = rng.sample(reused, min(2, len(reused)))
        if len(opn) < MAX_OPEN:
            k = self._k()
            acts.append(_Action(CONST, 1, (), k, k, 0, k, (), 3.0))
        for x in opn:
            k = self._k()
            acts.append(_Action(ADD, 2, (x,), k, x.value + k, x.coef, x.offset + k, (x,), 1.0))
            k = self._k(2)
            acts.append(_Action(MUL, 2, (x,), k, x.value * k, x.coef * k, x.offset * k, (x,), 1.0))
            acts.append(_Action(COPY, 1, (x,), None, x.value, x.coef, x.offset, (x,), 0.2))
            for y in picks:
                acts.append(_Action(SUM, 2, (x, y), None, x.value + y.value, x.coef + y.coef, x.offset + y.offset, (x,), 1.0))
                a, b = (x, y) if x.value >= y.value else (y, x)
                acts.append(_Action(DIFF, 2, (a, b), None, a.value - b.value, a.coef - b.coef, a.offset - b.offset, (x,), 0.7))
        for i in range(len(opn)):
            for j in range(i + 1, len(opn)):
                x, y = opn[i], opn[j]
                acts.append(_Action(SUM, 2, (x, y), None, x.value + y.value, x.coef + y.coef, x.offset + y.offset, (x, y), 2.0))
                a, b = (x, y) if x.value >= y.value else (y, x)
                acts.append(_Action(DIFF, 2, (a, b), None, a.value - b.value, a.coef - b.coef, a.offset - b.offset, (x, y), 1.0))
        if len(opn) >= 3:
            acts.append(_Action(SUM, len(opn), tuple(opn), None, *self._sum_of(opn), tuple(opn), 1.5))
        if len(opn) == 2:
            for y in picks:
                three = (*opn, y)
                acts.append(_Action(SUM, 3, three, None, *self._sum_of(three), tuple(opn), 1.0))
        if len(opn) == 1 and len(picks) == 2:
            three = (opn[0], *picks)
            acts.append(_Action(SUM, 3, three, None, *self._sum_of(three), tuple(opn), 0.5))
        acts.extend(self._aggregates())
        return acts

    @staticmethod
    def _sum_of(qs) -> tuple[int, int, int]:
        return sum(q.value for q in qs), sum(q.coef for q in qs), sum(q.offset for q in qs)

    def _aggregates(self) -> list[_Action]:
        """Totals of entities whose instances are all necessary already (tracked in _apply)."""
        acts = []
        for entity in self.complete:
            qs = [self.problem.quantities[n] for n in self.instances_of[entity]]
            consumes = tuple(q for q in qs if q in self.open)
            acts.append(_Action(AGGREGATE, len(qs), tuple(qs), None, *self._sum_of(qs), consumes, 4.0, entity))
        return acts

    def _classify(self, a: _Action) -> int:
        """INVALID, GOING (an intermediate step keeping the invariants) or CLOSING (a valid target)."""
        if not 0 <= a.value <= self.cfg.max_value:
            return INVALID
        if a.coef == 0 and any(p.coef != 0 for p in a.parents):
            return INVALID  # would cancel x in reverse mode
        rest = len(self.open) - len(a.consumes)
        if a.coef != 0 and self.carriers - sum(1 for q in a.consumes if q.coef != 0) > 0:
            return INVALID  # two open carriers of x could cancel in the closing sum
        left = self.remaining - a.cost
        if left == 0:
            return CLOSING if rest == 0 else INVALID
        m_after = rest + 1
        if m_after > MAX_OPEN or left < _min_close(m_after):
            return INVALID
        if self.open_sum - sum(q.value for q in a.consumes) + a.value > self.cfg.max_value:
            return INVALID
        names_after = self.names_left - (0 if a.relation == AGGREGATE else 1)
        return GOING if names_after >= _names_needed(left, m_after) else INVALID

    # ---------------------------------------------------------------- build
    def _apply(self, a: _Action) -> Quantity:
        if a.relation == AGGREGATE:
            name, aggregate = f"total number of {self.ctx.category} in {a.entity}", True
            self.complete.remove(a.entity)
        else:
            if self.names_left <= 0:
                raise GenerationError("ran out of instance names")
            name, aggregate = self.order[self.next_name], False
            self.next_name += 1
            entity = self.problem.entity_of[name]
            self.missing[entity] -= 1
            if self.missing[entity] == 0:
                self.complete.append(entity)
        q = Quantity(name, aggregate, a.relation, tuple(p.name for p in a.parents), a.const, a.value,
                     necessary=True, coef=a.coef, offset=a.offset)
        if self.mode == "reverse" and self.problem.hidden is None:
            if a.relation != CONST:
                raise GenerationError("the first quantity must be a leaf")
            self.problem.hidden = name
            q.coef, q.offset = 1, 0
        self.problem.add(q)
        self.open = [o for o in self.open if o not in a.consumes] + [q]
        self.open_sum = sum(o.value for o in self.open)
        self.carriers = sum(1 for o in self.open if o.coef != 0)
        self.done.append(q)
        self.remaining -= a.cost
        return q

    def build(self) -> Problem:
        rng = self.rng
        while True:
            acts = self._candidates()
            if self.remaining > len(self.open) + 4:
                # no action can close yet: take the first valid one in a weighted random order
                # (Efraimidis-Spirakis keys), classifying ~2 candidates instead of all ~15
                acts.sort(key=lambda a: rng.random() ** (1.0 / a.weight), reverse=True)
                step = next((a for a in acts if self._classify(a) == GOING), None)
                if step is None:
                    raise GenerationError(f"no valid action at remaining={self.remaining}, open={len(self.open)}")
                self._apply(step)
                continue
            closing, going = [], []
            for a in acts:
                kind = self._classify(a)
                if kind == CLOSING:
                    closing.append(a)
                elif kind == GOING:
                    going.append(a)
            if closing and (not going or rng.random() < self.cfg.finish_bias):
                target = self._apply(self._pick(closing))
                self.problem.target = target.name
                break
            if not going:
                raise GenerationError(f"no valid action at remaining={self.remaining}, open={len(self.open)}")
            self._apply(self._pick(going))
        if self.problem.op() != self.op:
            raise GenerationError(f"built op {self.problem.op()} != requested {self.op}")
        if self.cfg.max_distractors:
            self._distractors()
        return self.problem

    def _pick(self, acts: list[_Action]) -> _Action:
        return self.rng.choices(acts, weights=[a.weight for a in acts], k=1)[0]

    def _distractors(self) -> None:
        """Every instance of the structure not needed is stated too, with random parents."""
        rng, cap = self.rng, self.cfg.max_value
        for name in self.order[self.next_name:]:
            pool = list(self.problem.quantities.values())
            kind = rng.choice((CONST, ADD, MUL, SUM, DIFF))
            x, y = rng.choice(pool), rng.choice(pool)
            q = None
            if kind == ADD:
                k = self._k()
                q = Quantity(name, False, ADD, (x.name,), k, x.value + k)
            elif kind == MUL:
                k = self._k(2)
                q = Quantity(name, False, MUL, (x.name,), k, x.value * k)
            elif kind == SUM and x is not y:
                q = Quantity(name, False, SUM, (x.name, y.name), None, x.value + y.value)
            elif kind == DIFF and x is not y:
                a, b = (x, y) if x.value >= y.value else (y, x)
                q = Quantity(name, False, DIFF, (a.name, b.name), None, a.value - b.value)
            if q is None or q.value > cap:
                k = self._k()
                q = Quantity(name, False, CONST, (), k, k)
            self.problem.add(q)


def sample_problem(op: int, mode: str, context: Context, rng: random.Random,
                   config: SamplerConfig = SamplerConfig()) -> Problem:
    return _Builder(op, mode, context, rng, config).build()
