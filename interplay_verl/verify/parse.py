"""Free-form solution text -> predicted graph (docs/method.md#5-process-verification). Text is data: nothing is executed.

A step is "Define <quantity> as <letter>; [<temp> = <expr> = ... ;]* so <letter> = <expr> = ... = <value>."
Parents are the quantities the step's first expression mentions, followed through any chain
of temporaries; the value is the last value written. Letters bind to their newest definition,
so a letter reused for a second quantity cannot lend the first one's credit to later steps,
and a step that mentions its own letter refers to whatever that letter meant before it.

Parsing is one pass over ``str.split`` pieces with bounded regular expressions, so time stays
linear in the input length whatever the input (no backtracking blow-up on adversarial text).

This module is the definition. ``_native.c`` holds a compiled twin for ASCII text (what
models write), several times faster; ``parse_solution`` uses it when the package was built
with a C compiler and ``INTERPLAY_VERL_PURE_PYTHON`` is not set. tests/test_native.py holds
the two to identical graphs.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from functools import lru_cache
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple, Optional

MAX_NAME = 200  # longer "quantity names" are not quantities
# a name starts and ends with a non-space (the shortest name that fits always does), so each
# whitespace run is scanned once, not once per possible name length
_DEFINE = re.compile(r"\s*(\S(?:.{0,%d}?\S)??)\s+as\s+([A-Za-z])\s*(?:;|,|$)" % (MAX_NAME - 2), re.S)
_ASSIGN = re.compile(r"\s*(so\s+)?([A-Za-z])\s*=\s*(.*)", re.S | re.I)
_NUMBER = re.compile(r"[-+]?\d{1,400}(?:\.\d{1,400})?")
_LETTER = re.compile(r"(?<![A-Za-z])[A-Za-z](?![A-Za-z])")
# applied to lower-cased text: a case-insensitive pattern scans ~10x slower (no literal prefix)
_ANSWER_TAG = re.compile(r"<answer>\s*([-+]?\d{1,400}(?:\.\d{1,400})?)\s*</answer>")
_ANSWER_LINE = re.compile(r"answer\s*:\s*([-+]?\d{1,400}(?:\.\d{1,400})?)")
_SOLUTION_X = re.compile(r"solution\s*:\s*x\s*=\s*([-+]?\d{1,400}(?:\.\d{1,400})?)")
_LINEAR_TERM = re.compile(r"\s*([-+])?\s*(\d{1,400})?\s*(\*?\s*x)?\s*")
_HIDDEN = "we don't know its value"
_DEFINE_SPLIT = re.compile(r"\bdefine\s+", re.I)
_SOLUTION_END = re.compile("</solution>", re.I)
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
UNBOUND = "<unbound>"
# A step's operands, through temporaries, number at most this many quantities; a longer list is
# wrong whatever it holds (no quantity has more than a handful of parents), and uncapped it
# could grow exponentially: t = a a a; u = t t t; v = u u u ...
MAX_OPERANDS = 64
TOO_MANY = "<too many operands>"


def normalize_name(name: str) -> str:
    """Quantities match by name, ignoring case, spacing and a leading "the"/"number of"."""
    name = " ".join(name.lower().split()).strip(" .")
    for prefix in ("the ", "number of "):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


def parse_number(text: str):
    """int for integers (the common case, and fast), Fraction for decimals ("10.0" == 10), else None."""
    text = text.strip()
    if len(text) > 820:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return Fraction(text)
    except (ValueError, ZeroDivisionError):
        return None


def parse_linear(text: str) -> Optional[tuple[int, int]]:
    """"3*x + 2" -> (3, 2); "x" -> (1, 0); "7" -> (0, 7); anything else -> None."""
    text = text.strip().rstrip(".").strip()
    if not text or len(text) > 2000:
        return None
    coef = offset = pos = 0
    while pos < len(text):
        m = _LINEAR_TERM.match(text, pos)
        sign, digits, has_x = m.groups()
        if m.end() == pos or (digits is None and has_x is None) or (pos > 0 and sign is None):
            return None  # not a term, or two terms with no operator between them
        k = int(digits) if digits else 1
        if sign == "-":
            k = -k
        if has_x:
            coef += k
        else:
            offset += k
        pos = m.end()
    return coef, offset


class PredictedNode(NamedTuple):
    parents: tuple[str, ...] = ()  # sorted: equal tuples = equal multisets
    value: Optional[Fraction] = None  # int or Fraction
    linear: Optional[tuple[int, int]] = None  # reverse mode: value as coef*x + offset


@dataclass(slots=True)
class ParsedSolution:
    nodes: dict[str, PredictedNode] = field(default_factory=dict)
    answer: Optional[Fraction] = None
    x: Optional[Fraction] = None

    @property
    def empty(self) -> bool:
        return not self.nodes and self.answer is None


def _answer(low: str) -> Optional[Fraction]:
    tags = _ANSWER_TAG.findall(low)
    if tags:
        return parse_number(tags[-1])
    lines = _ANSWER_LINE.findall(low)
    return parse_number(lines[-1]) if lines else None


def _value_of(expr: str):
    expr = expr.strip()
    try:
        return int(expr), None  # the common case: a plain integer
    except ValueError:
        pass
    expr = expr.rstrip(".").strip()
    if _NUMBER.fullmatch(expr):
        return parse_number(expr), None
    return None, parse_linear(expr) if "x" in expr else None


def _define_chunks(text: str, low: str) -> list[str]:
    """The text after each word "define" (any case), up to the next one, before "</solution>".

    ``str.find`` on the lower-cased text is ~20x faster than a case-insensitive regex split;
    the regex remains for text whose lower-casing changes its length (positions would not
    line up).
    """
    if len(low) != len(text):
        return _DEFINE_SPLIT.split(_SOLUTION_END.split(text, 1)[0])[1:]
    cut = low.find("</solution>")
    if cut >= 0:
        text, low = text[:cut], low[:cut]
    starts = []
    find = low.find
    pos = find("define")
    while pos >= 0:
        if (pos == 0 or not (low[pos - 1].isalnum() or low[pos - 1] == "_")) and low[pos + 6:pos + 7].isspace():
            starts.append(pos + 6)
        pos = find("define", pos + 6)
    starts.append(len(text) + 6)
    return [text[a:b - 6] for a, b in zip(starts, starts[1:])]


def _parse_step(chunk: str):
    """One step, before letters are bound: (name, letter, hidden, segments), or None.

    A segment is (so, var, letters of its first expression, value, linear). Binding-free,
    so it depends on the text alone and can be cached: the samples of one prompt (GRPO's
    group, evaluation's n) and the same prompt in later epochs repeat most of their steps.
    """
    m = _DEFINE.match(chunk)
    if not m:
        return None
    name, letter = normalize_name(m.group(1)), m.group(2)
    rest = chunk[m.end():]
    end = _SENTENCE_END.search(rest)  # a step ends at its first full stop
    if end:
        rest = rest[: end.start()]
    if rest.lstrip()[:22].lower() == _HIDDEN[:22]:
        return name, letter, True, ()
    segments = []
    for segment in rest.split(";"):
        a = _ASSIGN.match(segment)
        if not a:
            continue
        so, var, exprs = a.groups()
        parts = exprs.split("=")
        # the first expression names the operands; the last one is the value
        segments.append((bool(so), var, tuple(_LETTER.findall(parts[0][:2000])), *_value_of(parts[-1][:2000])))
    return name, letter, False, tuple(segments)


_STEP_CACHE_LEN = 1024  # longer steps are not what models write; parse them, do not keep them
_parse_step_cached = lru_cache(maxsize=16384)(_parse_step)


def parse_solution(text) -> ParsedSolution:
    """Solution text (str or UTF-8 bytes; anything else reads as empty) -> predicted graph."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return ParsedSolution()
    if native is not None:
        parsed = native.parse(text)
        if parsed is not None:  # None: not ASCII, Python's to read
            answer, x, nodes = parsed
            return ParsedSolution(nodes, answer, x)
    return parse_solution_py(text)


def parse_solution_py(text: str) -> ParsedSolution:
    """The definition of the parse, in Python (``_native.c`` must agree with it)."""
    low = text.lower()
    out = ParsedSolution(answer=_answer(low))
    xs = _SOLUTION_X.findall(low)
    out.x = parse_number(xs[-1]) if xs else None
    x = out.x if out.x is not None else out.answer
    binding: dict[str, tuple[str, ...]] = {}  # letter -> quantity names it stands for (temps: several)
    nodes = out.nodes
    for chunk in _define_chunks(text, low):
        step = _parse_step_cached(chunk) if len(chunk) <= _STEP_CACHE_LEN else _parse_step(chunk)
        if step is None:
            continue
        name, letter, hidden, segments = step
        if hidden:
            parents, value, linear = (), None, (1, 0)
        else:
            final_parents: Optional[tuple[str, ...]] = None
            value = linear = None
            for so, var, letters, var_value, var_linear in segments:
                used = []
                for tok in letters:  # through temporaries to quantities
                    used.extend(binding.get(tok, (UNBOUND,)))
                    if len(used) > MAX_OPERANDS:
                        used = [TOO_MANY]
                        break
                if var == letter and (so or final_parents is None):
                    final_parents, value, linear = tuple(used), var_value, var_linear
                else:
                    binding[var] = tuple(used)  # a temporary stands for its operands
            parents = tuple(sorted(final_parents)) if final_parents else ()
        if value is None and linear is not None and x is not None:
            value = linear[0] * x + linear[1]
        binding[letter] = (name,)
        nodes[name] = PredictedNode(parents, value, linear)
    return out


def _load_native():
    """The compiled twins (parse here, compare in compare.py), or None: Python does the work."""
    if os.environ.get("INTERPLAY_VERL_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from interplay_verl.verify import _native
    except ImportError:  # built without a C compiler, or a checkout used without installing
        return None
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_native.c")
    if os.path.exists(source):  # a checkout: the .so must be built from this very file
        with open(source, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != getattr(_native, "SOURCE_SHA256", None):
            warnings.warn("interplay_verl/verify/_native.c changed since its extension was built; the "
                          "verifier runs in Python (same scores, slower) until `pip install -e .` rebuilds it",
                          RuntimeWarning, stacklevel=2)
            return None
    _native.configure(PredictedNode, _value_of, parse_number, UNBOUND, TOO_MANY, MAX_OPERANDS)
    return _native


native = _load_native()
