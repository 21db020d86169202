"""Contexts (docs/method.md#2-contexts): the vocabulary a problem's graph is written in, as data files.

A context is a YAML or JSON file; users add one without code. A structure draws all its
entities from one entity group and all its items from one item group, so a problem never
mixes, say, birds with mammals. Validation happens at load time and names the file and the
field, because a bad context would otherwise surface as an odd sentence thousands of rows
into a generation run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

BUILTIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "contexts")
# the built-in contexts are the YAML files beside this module (A zoo, B school, C festival)
BUILTIN = tuple(sorted((os.path.splitext(f)[0] for f in os.listdir(BUILTIN_DIR) if f.endswith(".yaml")),
                       key=lambda name: {"zoo": 0, "school": 1, "festival": 2}.get(name, 3)))
MAX_STRUCTURE_SIDE = 5  # entities and items per structure (docs/method.md#1-problem-graphs-and-op)


class ContextError(ValueError):
    pass


@dataclass(frozen=True)
class Item:
    singular: str
    plural: str


@dataclass(frozen=True)
class Context:
    name: str
    label: str
    category: str  # aggregate word: "total number of <category> in <entity>"
    question: str  # template with {item_plural} and {entity}
    entities: dict[str, tuple[str, ...]]
    items: dict[str, tuple[Item, ...]]
    source: str


def _fail(path: str, field: str, why: str) -> ContextError:
    return ContextError(f"context file {path}: field '{field}': {why}")


def _names(path: str, field: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(path, field, "must be a non-empty list")
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v.strip():
            raise _fail(path, f"{field}[{i}]", "must be a non-empty string")
    if len(set(value)) != len(value):
        raise _fail(path, field, "has duplicate names")
    return tuple(v.strip() for v in value)


def parse_context(data: Any, path: str) -> Context:
    if not isinstance(data, dict):
        raise _fail(path, "<root>", "must be a mapping")
    for key in ("name", "category", "question", "entities", "items"):
        if key not in data:
            raise _fail(path, key, "is missing")
    for key in ("name", "category", "question"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise _fail(path, key, "must be a non-empty string")
    if "{item_plural}" not in data["question"] or "{entity}" not in data["question"]:
        raise _fail(path, "question", "must contain {item_plural} and {entity}")
    if not isinstance(data["entities"], dict) or not data["entities"]:
        raise _fail(path, "entities", "must map group names to lists of entity names")
    if not isinstance(data["items"], dict) or not data["items"]:
        raise _fail(path, "items", "must map group names to lists of [singular, plural] pairs")
    entities = {str(g): _names(path, f"entities.{g}", v) for g, v in data["entities"].items()}
    items: dict[str, tuple[Item, ...]] = {}
    for group, pairs in data["items"].items():
        field = f"items.{group}"
        if not isinstance(pairs, list) or not pairs:
            raise _fail(path, field, "must be a non-empty list of [singular, plural] pairs")
        parsed = []
        for i, pair in enumerate(pairs):
            if isinstance(pair, str):
                pair = [pair, pair]
            if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) and p.strip() for p in pair)):
                raise _fail(path, f"{field}[{i}]", "must be [singular, plural] (two non-empty strings)")
            parsed.append(Item(pair[0].strip(), pair[1].strip()))
        if len({p.singular for p in parsed}) != len(parsed):
            raise _fail(path, field, "has duplicate items")
        items[str(group)] = tuple(parsed)
    return Context(
        name=data["name"].strip(),
        label=str(data.get("label", data["name"])).strip(),
        category=data["category"].strip(),
        question=data["question"].strip(),
        entities=entities,
        items=items,
        source=path,
    )


def load_context(name_or_path: str) -> Context:
    """A built-in name (zoo, school, festival) or a path to a YAML/JSON context file."""
    path = os.path.join(BUILTIN_DIR, f"{name_or_path}.yaml") if name_or_path in BUILTIN else name_or_path
    if not os.path.exists(path):
        raise ContextError(f"unknown context {name_or_path!r}: not one of {BUILTIN} and no such file")
    with open(path) as f:
        text = f.read()
    try:
        if path.endswith(".json"):
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:
        raise ContextError(f"context file {path}: cannot parse: {exc}") from exc
    return parse_context(data, path)
