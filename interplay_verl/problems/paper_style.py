"""The paper's problem style (``--style paper``): its structures, graphs and wording, in our contexts.

The paper's generator (GSM-Infinite's "realistic" generator at depth 2) differs from ours in
what a problem looks like, not only in its words: it builds the necessary part top-down from
entity totals, so most questions ask a total; it states every edge of a structure of at most 20
instances, so at high op there are few distractors; it writes compound statements ("2 plus the
sum of A and B") and distractors with up to four parents; it never lets a necessary quantity be
0; reverse problems hide the last constant and are solved with bracketed expressions and a fixed
five-step tail. This module samples problems the way it does and writes them in its wording, so a
model trained on them sees the paper's distribution (docs/generator.md compares the two).

How op is hit: like the paper, a draw is accepted only when its op equals the requested op (and
its values are whole, 1..1000, and a reverse problem's equation keeps x). The paper's problems at
an op are the draws that land on it, and which draws land there shapes them: op 12 and op 15
share one size parameter, so op-12 problems are the small end of that distribution. Building to
the op instead would give other problems. Every draw comes from the row's own seeded generator,
so a row is the same bytes on any machine and under any number of workers, and every accepted
row has exactly the requested op; a row whose draws never land gives up after ``MAX_ATTEMPTS``
with an error (tests generate thousands per op and never reach it).

Departures from the released code, each a fix: a distractor never names the total of its own
entity (the released code could write "A equals the total of A's entity", a cycle); a reverse
problem never loses a necessary sentence (the released code replaced a sentence whose
second-to-last parent was the hidden quantity, leaving 14-31% of reverse op-12/15 problems
unsolvable); and sums are printed without a symbolic-algebra package (the same strings).
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass, field
from typing import Optional

from interplay_verl.problems.contexts import Context
from interplay_verl.problems.render import letter_supply

STYLE = "paper"
VERSION = "paper-style-1"
MAX_ATTEMPTS = 20000
MAX_VALUE = 1000
RNG = "<rng>"  # the random-constant pseudo-parent: a constant k, or "k plus" / "k times"


class PaperStyleError(RuntimeError):
    """No accepted draw within MAX_ATTEMPTS (a distribution that cannot reach the op)."""


class _Reject(Exception):
    """This draw is thrown away (the paper's rejection sampling)."""


def size_of(op: int) -> tuple[int, int]:
    """The paper's driver draws op k with a maximum op by tier; its size parameter s = (max + 1) // 2."""
    tiers = ((3, 3), (4, 4), (6, 6), (9, 10), (11, 15), (15, 20), (18, 25), (20, 30))
    op_max = next((m for top, m in tiers if op <= top), op + 10)
    return (op_max + 1) // 2, op_max


@dataclass
class _Node:
    name: str
    total: bool
    entity: str
    item: str = ""  # an instance's item (singular)
    parents: list[str] = field(default_factory=list)  # in the order they were added; RNG included
    plus: bool = True  # with RNG and other parents: "k plus" (True) or "k times"
    k: int = 0
    diff: bool = False  # two real parents: "the difference between" instead of "the sum of"
    value: object = None  # int (forward) or (coef, offset) of x (reverse)

    def real(self) -> list[str]:
        return [p for p in self.parents if p != RNG]


class _Draw:
    """One attempt at a problem, following the paper's generator step by step (docs/generator.md)."""

    def __init__(self, op: int, mode: str, ctx: Context, rng: random.Random):
        self.op, self.mode, self.ctx, self.rng = op, mode, ctx, rng
        self.s, self.op_max = size_of(op)
        self.nodes: dict[str, _Node] = {}
        self.distractor_order: list[str] = []  # stated instances the solution never uses
        self.extra_totals: list[str] = []  # totals a distractor names that the solution does not use
        self.unlinked: list[str] = []  # their items not otherwise stated: plain numbers 1..4
        self.hidden: Optional[str] = None
        self.x: Optional[int] = None

    # ------------------------------------------------------------ structure
    def structure(self) -> None:
        rng, s = self.rng, self.s
        self.n = max(rng.randint(1, s), rng.randint(1, s))
        self.m = rng.randint(self.n, s)
        rel = (s - 1) / 19
        weights = [math.exp(-(rel - c) ** 2) for c in (0.1, 0.3, 0.5, 0.7, 0.9)]
        t = [rng.choices(range(1, 6), weights=weights)[0] for _ in range(2)]
        if s <= 5:
            t = [max(v, 2) for v in t] if self.mode == "forward" else [min(v, 3) for v in t]
        w0, w1 = min(t), max(t)
        e = min(rng.randint(w0, 20), rng.randint(w0, 20), w1 * w1)
        size, p = [w0, w0], rng.random()
        while size != [w1, w1]:
            grow = [i for i in (0, 1) if size[i] < w1]
            if size[0] * size[1] < e:
                size[rng.choice(grow)] += 1
            elif size[1] == e:
                break
            elif rng.random() < p:
                size[rng.choice(grow)] += 1
            else:
                break
        group = self.ctx.entities[rng.choice(sorted(self.ctx.entities))]
        items = self.ctx.items[rng.choice(sorted(self.ctx.items))]
        if size[0] > len(group) or size[1] > len(items):
            raise _Reject
        entities = rng.sample(list(group), size[0])
        kinds = rng.sample(list(items), size[1])
        edges: dict[str, list[str]] = {e_: [] for e_ in entities}  # entity -> its items, in the order added
        for item in kinds:
            edges[rng.choice(entities)].append(item.singular)
        count, tries = size[1], 0
        while count < e:
            tries += 1
            if tries > 10 * e:
                raise _Reject
            empty = [x for x in entities if not edges[x]]
            entity = rng.choice(empty or entities)
            item = rng.choice(kinds).singular
            if item not in edges[entity]:
                edges[entity].append(item)
                count += 1
        if any(not v for v in edges.values()):
            raise _Reject
        self.entities, self.edges = entities, edges
        self.instances = [f"{item} in {entity}" for entity in entities for item in edges[entity]]
        for entity in entities:
            for item in edges[entity]:
                self.nodes[f"{item} in {entity}"] = _Node(f"{item} in {entity}", False, entity, item)
        for entity in entities:
            name = f"total number of {self.ctx.category} in {entity}"
            self.nodes[name] = _Node(name, True, entity, parents=[f"{i} in {entity}" for i in edges[entity]])
        self.totals = [f"total number of {self.ctx.category} in {x}" for x in entities]

    # ------------------------------------------------------------ the necessary part, top-down
    def core(self) -> None:
        rng = self.rng
        untried = list(self.totals)
        op_g = 0
        totals_in: list[str] = []
        while untried:
            total = rng.choice(untried)
            untried.remove(total)
            items = self.nodes[total].parents
            if op_g + len(items) > self.n:
                break
            totals_in.append(total)
            op_g += len(items)
        graph = totals_in + [i for t in totals_in for i in self.nodes[t].parents]  # totals first
        free = [i for i in self.instances if i not in graph]
        for _ in range(max(0, self.m - op_g - 1)):
            if not free:
                break
            pick = rng.choice(free)
            free.remove(pick)
            graph.append(pick)
        if not graph:
            raise _Reject
        self.untried, self.graph = untried, graph
        self._order()

    def _children(self, name: str, among: set[str]) -> list[str]:
        return [c for c in among if name in self.nodes[c].parents]

    def _biased(self, candidates: list[str], next1: set[str]) -> str:
        weights = [math.exp((self.nodes[c].total + (c in next1)) * abs(self.rng.gauss(0.0, 1.0))) for c in candidates]
        return self.rng.choices(candidates, weights=weights)[0]

    def _order(self) -> None:
        """The topological order, built backwards from the target (each instance gains <= 1 parent here)."""
        rng, graph = self.rng, self.graph
        topo: list[str] = []

        def fronts() -> tuple[list[str], list[str]]:
            rest = [g for g in graph if g not in topo]
            rest_set, topo_set = set(rest), set(topo)
            next1 = [g for g in rest if self._children(g, topo_set)]
            next2 = [g for g in rest if not self._children(g, rest_set)]
            return next1, next2

        first = True
        while True:
            next1, next2 = fronts()
            if first:
                first = False
                totals = [g for g in next2 if self.nodes[g].total]
                param0 = totals[0] if self.mode == "reverse" and totals else rng.choice(next2)
            else:
                both = [g for g in next2 if g in next1]
                param0 = rng.choice(both)
            topo.insert(0, param0)
            if len(topo) == len(graph):
                break
            next1, next2 = fronts()
            both = [g for g in next2 if g in next1]
            node = self.nodes[param0]
            if not both:
                if node.total:
                    raise _Reject
                parent = self._biased(next2, set(next1))
                node.parents.append(parent)
            elif not node.total:
                if rng.random() < rng.random():
                    rest = [g for g in graph if g not in topo]
                    node.parents.append(self._biased(rest, set(next1)))
        if len(topo) == 2 and rng.random() < 0.5:
            extra = next((i for i in self.instances if i not in topo), None)
            if extra is not None:
                self.graph.append(extra)
                if rng.random() < 0.5:
                    self.nodes[topo[0]].parents.append(extra)
                    topo.insert(0, extra)
                else:
                    self.nodes[extra].parents.append(topo[1])
                    topo.append(extra)
        self.topo = topo

    # ------------------------------------------------------------ operations up to the size parameter
    def operations(self) -> None:
        rng, topo = self.rng, self.topo
        cur = {g: len(self.nodes[g].parents) for g in topo}
        instances = [g for g in topo if not self.nodes[g].total]
        top = {g: min(3, max(1, topo.index(g))) for g in instances}
        while sum(cur.values()) < self.s:
            room = [g for g in instances if cur[g] < top[g]]
            if not room:
                raise _Reject
            cur[rng.choice(room)] += 1
        for g in [x for x in self.graph if x in instances]:
            node = self.nodes[g]
            pool = [RNG] + topo[:topo.index(g)]
            dep = rng.choice((1, 2)) if cur[g] == 1 else cur[g] + 1
            dep = min(dep, len(pool))
            if any(p in pool for p in node.parents):
                pool.pop()  # the paper's generator drops the last candidate, not the parent it has
                dep -= 1
            for p in self._choose(pool, dep):
                if p not in node.parents:
                    node.parents.append(p)

    def _choose(self, pool: list[str], dep: int) -> list[str]:
        """The paper's parent draw: the whole pool when it has ``dep``, else maybe the random
        constant, then distinct others uniformly."""
        if dep == len(pool):
            return list(pool)
        chosen = []
        if self.rng.random() < 0.5:
            chosen.append(RNG)
            dep -= 1
        return chosen + self.rng.sample([p for p in pool if p != RNG], max(0, dep))

    def op_count(self) -> int:
        return sum(len(self.nodes[g].parents) for g in self.topo)

    # ------------------------------------------------------------ distractors: every other edge of the structure
    def distractors(self) -> None:
        """Every instance of the structure not yet used is stated, with 1-4 parents (totals among them)."""
        rng = self.rng
        order = [g for g in self.topo if self.nodes[g].total] + [g for g in self.topo if not self.nodes[g].total]
        in_graph = set(order)
        listed: list[str] = []
        while True:
            outside = [i for i in self.instances if i not in in_graph]
            if not outside:
                break
            known = order + [t for t in self.untried if t not in in_graph
                             and any(i in in_graph for i in self.nodes[t].parents)]
            a = rng.choice(outside)
            in_graph.add(a)
            own_total = f"total number of {self.ctx.category} in {self.nodes[a].entity}"
            if rng.random() < 0.5:
                pool = listed + [RNG]
                listed.append(a)
            else:
                pool = [g for g in known if g != own_total] + [RNG]  # never its own entity's total (a cycle)
            dep = 1
            while dep < min(4, len(pool)) and rng.random() < 0.5:
                dep += 1
            node = self.nodes[a]
            for b in self._choose(pool, dep):
                if b != RNG and b not in in_graph:  # a total not yet in the problem: it comes with its items
                    in_graph.add(b)
                    order.append(b)
                    self.extra_totals.append(b)
                    for item in self.nodes[b].parents:
                        if item not in in_graph:
                            in_graph.add(item)
                            order.append(item)
                            self.unlinked.append(item)
                if b not in node.parents:
                    node.parents.append(b)
            order.append(a)
            self.distractor_order.append(a)
        self.distractor_order += self.unlinked

    # ------------------------------------------------------------ values
    def values(self) -> None:
        rng = self.rng
        reverse = self.mode == "reverse"
        for g in self.topo + self.distractor_order:
            node = self.nodes[g]
            if node.total:
                continue
            if g in self.unlinked:
                node.k = rng.randint(1, 4)
                continue
            if RNG in node.parents:
                node.plus = rng.random() < 0.5
                node.k = rng.randint(1, 4) if node.plus else rng.randint(2, 4)
            if len(node.real()) == 2:
                node.diff = rng.random() < 0.5
        if reverse:
            self.hidden = next((g for g in reversed(self.topo)
                                if not self.nodes[g].total and not self.nodes[g].real()), None)
            if self.hidden is None:
                raise _Reject
            self.x = self.nodes[self.hidden].k
        for g in self.topo:
            node = self.nodes[g]
            node.value = (1, 0) if reverse and g == self.hidden else self._combine(node, reverse)
        memo: dict[str, int] = {}
        for g in self.distractor_order + self.extra_totals:  # never shown; kept in the gold graph
            self.nodes[g].value = self._number(g, memo)

    def _number(self, name: str, memo: dict) -> int:
        """A stated quantity's number (necessary ones at the hidden x), through any distractor parents."""
        node = self.nodes[name]
        if name in self.topo:
            value = node.value
            return value[0] * self.x + value[1] if isinstance(value, tuple) else value
        if name not in memo:
            for parent in node.real():
                self._number(parent, memo)
            memo[name] = self._combine(node, False, lambda p: self._number(p, memo))
        return memo[name]

    def _combine(self, node: _Node, reverse: bool, get=None):
        """The node's value from its parents': ints, or (coef, offset) of x in reverse mode."""
        get = get or (lambda p: self.nodes[p].value)
        const = (0, node.k) if reverse else node.k
        parts = [get(p) for p in node.real()]  # a total's parents are its items
        if not parts:
            return const
        acc = _minus(*parts) if len(parts) == 2 and node.diff else functools.reduce(_plus, parts)
        if RNG not in node.parents:
            return acc
        if node.plus:
            return _plus(const, acc)
        return (acc[0] * node.k, acc[1] * node.k) if isinstance(acc, tuple) else acc * node.k

    def accept(self) -> None:
        if self.op_count() != self.op or self.op_count() > self.op_max:
            raise _Reject
        for g in self.topo:
            value = self.nodes[g].value
            number = value[0] * self.x + value[1] if self.mode == "reverse" else value
            if not 1 <= number <= MAX_VALUE:
                raise _Reject
        if self.mode == "reverse" and self.nodes[self.topo[-1]].value[0] == 0:
            raise _Reject  # x cancels: no equation to solve


def _sample(op: int, mode: str, ctx: Context, rng: random.Random) -> _Draw:
    for _ in range(MAX_ATTEMPTS):
        draw = _Draw(op, mode, ctx, rng)
        try:
            draw.structure()
            draw.core()
            draw.operations()
            if draw.op_count() != op:
                raise _Reject
            draw.distractors()
            draw.values()
            draw.accept()
        except _Reject:
            continue
        return draw
    raise PaperStyleError(f"no paper-style problem at op {op} ({mode}, {ctx.name}) in {MAX_ATTEMPTS} draws")


# ---------------------------------------------------------------- wording
def _ref(node: _Node, capital: bool = False) -> str:
    if node.total:
        return ("The " if capital else "the ") + node.name
    return ("The number of " if capital else "the number of ") + node.name


def linear(coef: int, offset: int) -> str:
    """a*x + b as the paper's symbolic printer writes it: "x + 1", "2*x", "5 - x", "-x - 1", "7"."""
    if coef == 0:
        return str(offset)
    term = "x" if abs(coef) == 1 else f"{abs(coef)}*x"
    if coef > 0:
        return term if offset == 0 else f"{term} + {offset}" if offset > 0 else f"{term} - {-offset}"
    if offset > 0:
        return f"{offset} - {term}"
    return f"-{term}" if offset == 0 else f"-{term} - {-offset}"


class _Writer:
    def __init__(self, draw: _Draw, rng: random.Random):
        self.draw, self.rng = draw, rng
        self.letters = letter_supply(rng, "Xx" if draw.mode == "reverse" else "")
        self.var: dict[str, str] = {}

    def fresh(self) -> str:
        try:
            return next(self.letters)
        except StopIteration:
            raise _Reject from None

    def sentence(self, node: _Node) -> str:
        d = self.draw
        real = [d.nodes[p] for p in node.real()]
        head = f"{_ref(node, True)} equals"
        if not real:  # a constant (or an item that came with a total: a plain number)
            return f"{head} {node.k}"
        refs = [_ref(p) for p in real]
        if len(refs) == 1:
            body = refs[0]
        elif len(refs) == 2:
            body = (f"the difference between {refs[0]} and {refs[1]}" if node.diff
                    else f"the sum of {refs[0]} and {refs[1]}")
        else:
            body = f"the sum of {', '.join(refs[:-1])}, and {refs[-1]}"
        if RNG in node.parents:
            return f"{head} {node.k} {'plus' if node.plus else 'times'} {body}"
        return f"{head} {body}"

    def _pair(self, left: str, right: str, left_shown: str, right_shown: str, diff: bool, result: str) -> str:
        if self.draw.mode == "reverse" and diff:
            return f"{left} - {right} = ({left_shown}) - ({right_shown}) = {result}"
        return f"{left} {'-' if diff else '+'} {right} = {left_shown} {'-' if diff else '+'} {right_shown} = {result}"

    def _show(self, value) -> str:
        return linear(*value) if self.draw.mode == "reverse" else str(value)

    def step(self, name: str) -> str:
        d = self.draw
        node = d.nodes[name]
        reverse = d.mode == "reverse"
        if reverse and name == d.hidden:
            self.var[name] = "x"
            return f"Define {name} as x; we don't know its value yet but will find it out later."
        # a total is written as the sum chain of its items, like an instance with those parents
        real = node.real()
        if not real:
            final = self.fresh()
            self.var[name] = final
            return f"Define {name} as {final}; so {final} = {node.k}."
        diff = node.diff and len(real) == 2
        acc_letter, acc_value = self.var[real[0]], d.nodes[real[0]].value
        links: list[str] = []  # a pair, or a chain of sums, each link into a fresh temporary
        for parent in real[1:]:
            right = d.nodes[parent].value
            value = _minus(acc_value, right) if diff else _plus(acc_value, right)
            letter = self.fresh()
            links.append(f"{letter} = " + self._pair(acc_letter, self.var[parent], self._show(acc_value),
                                                     self._show(right), diff, self._show(value)))
            acc_letter, acc_value = letter, value
        if RNG not in node.parents:
            if not links:  # a copy
                final = self.fresh()
                links = [f"{final} = {acc_letter} = {self._show(acc_value)}"]
            else:
                final = acc_letter
            self.var[name] = final
            links[-1] = "so " + links[-1]
            return f"Define {name} as {final}; " + "; ".join(links) + "."
        if not links:  # "k plus/times" a copy: the copy goes into a temporary first
            temp = self.fresh()
            links = [f"{temp} = {acc_letter} = {self._show(acc_value)}"]
            acc_letter = temp
        final = self.fresh()
        self.var[name] = final
        sym = "+" if node.plus else "*"
        shown = self._show(acc_value)
        middle = f"({node.k}) * ({shown})" if reverse and not node.plus else f"{node.k} {sym} {shown}"
        links.append(f"so {final} = {node.k} {sym} {acc_letter} = {middle} = {self._show(node.value)}")
        return f"Define {name} as {final}; " + "; ".join(links) + "."


def _plus(a, b):
    return (a[0] + b[0], a[1] + b[1]) if isinstance(a, tuple) else a + b


def _minus(a, b):
    return (a[0] - b[0], a[1] - b[1]) if isinstance(a, tuple) else a - b


def render(draw: _Draw, rng: random.Random) -> tuple[str, str, str, str]:
    """(problem, question, solution body without "Answer: N.", answer) in the paper's wording."""
    writer = _Writer(draw, rng)
    d = draw
    stated = [g for g in d.topo if not d.nodes[g].total] + d.distractor_order
    sentences = []
    for g in stated:
        if d.mode == "reverse" and g == d.hidden:
            sentences.append(f"The number of {g} exists, and its number is greater than 0")
        else:
            sentences.append(writer.sentence(d.nodes[g]))
    target = d.nodes[d.topo[-1]]
    if d.mode == "reverse":
        value = target.value[0] * d.x + target.value[1]
        sentences.append(f"{_ref(target, True)} equals {value}")
    rng.shuffle(sentences)
    problem = ". ".join(sentences) + "."
    asked = d.nodes[d.hidden] if d.mode == "reverse" else target
    question = (f"What is the {asked.name}?" if asked.total else f"How many {asked.item} does {asked.entity} have?")
    steps = [writer.step(g) for g in d.topo]
    if d.mode == "forward":
        return problem, question, " ".join(steps), str(target.value)
    a, b = target.value
    v = a * d.x + b
    c = b - v
    tail = (f"We know {writer.var[target.name]} = {v}, so we have {linear(a, b)} = {v} and we solve it through the "
            f"following steps: Simplifying the equation: {linear(a, b)} = {v}. Move all terms to one side: "
            f"{linear(a, c)} = 0. Isolate the term with x: {a}*x = {-c}. Divide both sides by {a}: x = {-c} / {a}. "
            f"Solution: x = {d.x}.")
    body = " ".join(["The question is difficult, so we use equations to solve it.", *steps, tail])
    return problem, question, body, str(d.x)


def gold_graph(draw: _Draw) -> dict:
    """Our gold-graph format: every stated quantity, necessary ones in solution order first."""
    d = draw
    nodes = []
    for g in d.topo + d.distractor_order + d.extra_totals:
        node = d.nodes[g]
        value = node.value
        if isinstance(value, tuple):
            value = value[0] * d.x + value[1]
        real = node.real()
        relation = ("aggregate" if node.total else "const" if not real else "copy" if len(real) == 1 else
                    "diff" if node.diff and len(real) == 2 else "sum")
        if real and RNG in node.parents:
            relation = f"{'add' if node.plus else 'mul'}_{relation}" if relation != "copy" else \
                ("add" if node.plus else "mul")
        nodes.append({"name": g, "value": value, "parents": real, "relation": relation,
                      "const": node.k if RNG in node.parents or not real else None,
                      "necessary": g in d.topo})
    return {"target": d.topo[-1], "hidden": d.hidden if d.mode == "reverse" else None, "nodes": nodes}


def sample(op: int, mode: str, ctx: Context, rng: random.Random) -> tuple[str, str, str, str, dict]:
    """(problem, question, solution body, answer, gold graph) of one paper-style problem."""
    for _ in range(MAX_ATTEMPTS):
        draw = _sample(op, mode, ctx, rng)
        try:
            problem, question, body, answer = render(draw, rng)
        except _Reject:  # more than the alphabet's letters
            continue
        return problem, question, body, answer, gold_graph(draw)
    raise PaperStyleError(f"no paper-style problem at op {op} ({mode}, {ctx.name})")
