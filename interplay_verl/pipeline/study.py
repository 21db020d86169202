"""``interplay-verl study STUDY.yaml --scale S``: every arm of a study, sharing what arms have in common.

A study file (``recipes/studies/``) names a profile per scale and the arms as settings over it:

    name: extrapolation
    scales:                        # one definition, every scale: --scale smoke|tiny|small|paper
      smoke: {profile: ../profiles/smoke.yaml, vars: {M: 4}}
      paper: {profile: ../profiles/paper.yaml, vars: {M: 10}}
    common: {midtrain.enable: false, filter.enable: false, rl.variant: outcome}
    arms:
      rl_edge: {filter.ops: "{M+1}-{M+4}"}          # the paper's 11-14 when M (top pre-training op) is 10
      ours_edge: {filter.enable: true, rl.variant: gated}
    grid:                          # arms over every combination of the values (a list of such blocks)
      arms: {"mid{f}_rl{N}": {rl.start_step: "{round(f * N)}"}}
      values: {f: [0.2, 0.8], N: [50, 100]}      # a scale's `grid: {N: [...]}` replaces a variable's values

``{...}`` is arithmetic over the scale's ``vars`` and the grid's values (``+ - * / // % **``,
``round min max int abs``, ``list[i]``); a value that is one ``{...}`` keeps its type. A key ending in
``+`` appends to a list (``rl.overrides+: [...]``). An arm may list the ``stages`` it runs (with
their upstream stages).

Each arm is a pipeline run (``<out>/arms/<arm>/``) whose stages live in one store
(``<out>/stages/<stage>-<key>/``): a stage is keyed by the settings it depends on and its upstream
stages' keys, so arms that agree up to the pre-trained base share one base, and a mid-training run
all arms agree on is trained once. Every arm is composed and checked before any stage runs; a
rerun skips what is done and resumes what was killed.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import json
import operator
import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from interplay_verl.pipeline.config import PipelineConfigError, as_dict, load, pick, resolve, validate
from interplay_verl.pipeline.stages import STAGES

STUDIES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                           "recipes", "studies")
SCALES = ("smoke", "tiny", "small", "paper")
TOP_KEYS = {"name", "description", "scales", "common", "arms", "grid", "figures", "findings", "paper"}
ARM_KEYS = {"stages", "label", "compare_to", "point"}  # an arm's own keys, beside its settings
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_CALLS = {"round": round, "min": min, "max": max, "int": int, "abs": abs}
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number")
    return value


def evaluate_expression(text: str, names: dict[str, Any]) -> Any:
    """Arithmetic over ``names``: numbers, names, + - * / // % ** (small powers), unary -, list[index],
    and a few functions. Any failure is a ValueError naming the expression."""
    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise ValueError(f"unknown name {node.id!r} (known: {', '.join(sorted(names)) or 'none'})")
            return names[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = _number(walk(node.left)), _number(walk(node.right))
            if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > 10 ** 6):
                raise ValueError("a power too large to be a setting")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = _number(walk(node.operand))
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Subscript):  # a scale's list variable, e.g. headroom[h]
            seq, index = walk(node.value), walk(node.slice)
            if not isinstance(seq, list) or isinstance(index, bool) or not isinstance(index, int):
                raise ValueError(f"{ast.unparse(node)!r}: index a list variable with a whole number")
            return seq[index]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CALLS
                and not node.keywords and node.args):
            return _CALLS[node.func.id](*(_number(walk(a)) for a in node.args))
        raise ValueError(f"{ast.unparse(node)!r} is not arithmetic over names")

    try:
        return walk(ast.parse(text.strip(), mode="eval"))
    except SyntaxError:
        raise ValueError(f"{{{text}}}: not an expression") from None
    except ValueError as exc:
        raise ValueError(f"{{{text}}}: {exc}") from None
    except (ArithmeticError, IndexError, TypeError) as exc:
        raise ValueError(f"{{{text}}}: {type(exc).__name__}: {exc}") from None


def substitute(value: Any, names: dict[str, Any]) -> Any:
    """``value`` with every ``{expr}`` evaluated (recursively through lists and mappings)."""
    if isinstance(value, list):
        return [substitute(v, names) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, names) for k, v in value.items()}
    if not isinstance(value, str) or "{" not in value:
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole:
        return evaluate_expression(whole[1], names)
    return _PLACEHOLDER.sub(lambda m: _format(evaluate_expression(m[1], names)), value)


def _format(number: Any) -> str:
    """A value inside text: 0.93, not 0.9299999999999999 (1 - 0.07)."""
    if isinstance(number, float):
        number = round(number, 10)
        return str(int(number)) if number.is_integer() else repr(number)
    return str(number)


@dataclass
class Arm:
    name: str
    settings: dict[str, Any]  # dotted key -> value, expressions evaluated
    stages: list[str] = field(default_factory=list)  # empty: every stage
    label: str = ""
    # our improvement over a paper-protocol arm: the arm it must equal but for its own settings
    compare_to: str = ""
    own: list[str] = field(default_factory=list)  # the keys the arm sets itself (not from `common`)
    point: dict[str, Any] = field(default_factory=dict)  # its grid values (e.g. budget N, share f)


@dataclass
class Study:
    name: str
    path: str
    description: str
    scale: str
    profile: str
    arms: list[Arm]
    figures: list[Any]
    paper: dict
    vars: dict[str, Any] = field(default_factory=dict)  # the scale's variables (M: the top pre-training op)
    findings: list[str] = field(default_factory=list)  # the paper's claims the report checks (interplay_verl.findings)
    configs: dict[str, Any] = field(default_factory=dict)  # arm -> its checked configuration (compose)


def _fail(path: str, where: str, why: str) -> PipelineConfigError:
    return PipelineConfigError(f"study {path}: {where}: {why}")


def _mapping(path: str, where: str, value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(path, where, f"must be a mapping, got {type(value).__name__}")
    return value


def _registered(path: str, raw: dict, key: str, registry: dict) -> list[str]:
    """A list of names (figures, findings), each one the project defines."""
    names = list(raw.get(key) or [])
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise _fail(path, key, f"unknown {key[:-1]}(s) {unknown}; {key} are {', '.join(registry)}")
    return names


def read_study(path: str, scale: str) -> Study:
    """The study at ``path`` for one scale: arms expanded, expressions evaluated (no configuration loaded)."""
    import yaml

    path = resolve(path) if not os.path.exists(path) else path
    if not os.path.exists(path):
        known = sorted(f for f in os.listdir(STUDIES_DIR) if f.endswith(".yaml")) if os.path.isdir(STUDIES_DIR) else []
        raise PipelineConfigError(f"study {path}: no such file (studies: {', '.join(known)})")
    with open(path) as f:
        raw = yaml.safe_load(f) or {}
    raw = _mapping(path, "<root>", raw)
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise _fail(path, "top level", f"unknown key(s) {unknown}; a study has {sorted(TOP_KEYS)}")
    scales = _mapping(path, "scales", raw.get("scales"))
    if scale not in scales:
        raise _fail(path, "scales", f"no scale {scale!r}; this study defines {sorted(scales)}")
    entry = _mapping(path, f"scales.{scale}", scales[scale])
    bad = sorted(set(entry) - {"profile", "vars", "grid", "arms", "common"})
    if bad or "profile" not in entry:
        raise _fail(path, f"scales.{scale}", f"needs `profile` and may have vars, grid, arms, common "
                                             f"(got {sorted(entry)})")
    profile = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), entry["profile"]))
    names = dict(_mapping(path, f"scales.{scale}.vars", entry.get("vars")))
    common = _mapping(path, "common", raw.get("common"))
    # settings only this scale's arms take (after the file's common ones, before each arm's own)
    scale_common = _mapping(path, f"scales.{scale}.common", entry.get("common"))
    arms: dict[str, dict] = {}
    for name, body in _mapping(path, "arms", raw.get("arms")).items():
        arms[str(name)] = (f"arms.{name}", _mapping(path, f"arms.{name}", body), {})
    blocks = raw.get("grid") or []
    blocks = blocks if isinstance(blocks, list) else [blocks]
    scale_values = _mapping(path, f"scales.{scale}.grid", entry.get("grid"))
    known_vars = {v for block in blocks if isinstance(block, dict) for v in (block.get("values") or {})}
    stray = sorted(set(scale_values) - known_vars)
    if stray:
        raise _fail(path, f"scales.{scale}.grid", f"{stray} are not grid variables ({sorted(known_vars)})")
    for number, grid in enumerate(blocks):
        grid = _mapping(path, f"grid[{number}]", grid)
        if set(grid) - {"arms", "values"}:
            raise _fail(path, "grid", f"has `arms` and `values` only (got {sorted(grid)})")
        values = _mapping(path, "grid.values", grid.get("values"))
        values = {var: scale_values.get(var, options) for var, options in values.items()}
        for var, options in values.items():
            if not isinstance(options, list) or not options:
                raise _fail(path, f"grid.values.{var}", "must be a non-empty list")
            try:
                values[var] = [substitute(option, names) for option in options]
            except ValueError as exc:
                raise _fail(path, f"grid.values.{var}", str(exc)) from None
        for template, body in _mapping(path, "grid.arms", grid.get("arms")).items():
            for combo in itertools.product(*values.values()):
                point = dict(zip(values, combo))
                try:
                    name = str(substitute(str(template), {**names, **point}))
                except ValueError as exc:
                    raise _fail(path, f"grid.arms.{template}", str(exc)) from None
                if name in arms:
                    raise _fail(path, f"grid.arms.{template}", f"arm {name!r} defined twice")
                arms[name] = (f"grid.arms.{template}", _mapping(path, f"grid.arms.{template}", body), point)
    chosen = entry.get("arms")
    if chosen is not None:  # a scale may run a subset (e.g. smoke: the fewest arms that prove the point)
        missing = [a for a in chosen if a not in arms]
        if missing:
            raise _fail(path, f"scales.{scale}.arms", f"{missing} are not arms of this study ({sorted(arms)})")
        arms = {a: arms[a] for a in chosen}
    if not arms:
        raise _fail(path, "arms", "the study has no arms")
    out = []
    for name, (where, body, point) in arms.items():
        scope = {**names, **point}
        settings: dict[str, Any] = {}
        stages, label, compare_to = [], name, ""
        layers = [("common", common), (f"scales.{scale}.common", scale_common), (where, body)]
        for place, key, value in [(place, k, v) for place, layer in layers for k, v in layer.items()]:
            try:
                value = substitute(value, scope)
            except ValueError as exc:
                raise _fail(path, f"{place}.{key}", str(exc)) from None
            if key == "stages":
                stages = _stages(path, f"{where}.stages", value)
            elif key == "label":
                label = str(value)
            elif key == "compare_to":
                compare_to = str(value)
            elif key == "point":  # where a hand-written arm sits in a figure (e.g. budget N, share f)
                point = {**point, **_mapping(path, f"{where}.point", value)}
            elif str(key).endswith("+") and isinstance(settings.get(key), list) and isinstance(value, list):
                settings[str(key)] = [*settings[key], *value]  # common's appends, then the arm's
            else:
                settings[str(key)] = value
        out.append(Arm(name, settings, stages, label, compare_to, [k for k in body if k not in ARM_KEYS], point))
    names_known = {a.name for a in out}
    for arm in out:
        if arm.compare_to and arm.compare_to not in names_known:
            raise _fail(path, f"arms.{arm.name}.compare_to", f"{arm.compare_to!r} is not an arm at scale {scale}")
    from interplay_verl.findings import FINDINGS
    from interplay_verl.study_report import FIGURES

    figures, findings = (_registered(path, raw, key, registry) for key, registry in
                         (("figures", FIGURES), ("findings", FINDINGS)))
    return Study(str(raw.get("name") or os.path.splitext(os.path.basename(path))[0]), path,
                 str(raw.get("description", "")), scale, profile, out, figures,
                 _mapping(path, "paper", raw.get("paper")), names, findings=findings)


def _stages(path: str, where: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise _fail(path, where, "must be a non-empty list of stages")
    unknown = [s for s in value if s not in STAGES]
    if unknown:
        raise _fail(path, where, f"unknown stage(s) {unknown}; stages are {', '.join(STAGES)}")
    return list(value)


def with_upstream(stages: list[str]) -> list[str]:
    """``stages`` and every stage they depend on, in table order."""
    wanted: set[str] = set()
    todo = list(stages)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo.extend(STAGES[name].upstream)
    return [s for s in STAGES if s in wanted]


def compose(study: Study, sets: tuple[str, ...] = (), environ: Optional[dict] = None) -> dict[str, Any]:
    """Every arm's configuration, loaded over the scale's profile and checked (errors name the arm)."""
    configs = {}
    for arm in study.arms:
        origin = f"study {os.path.basename(study.path)} arm {arm.name}"
        layers: list[tuple[str, dict]] = []
        for key, value in arm.settings.items():
            if key.endswith("+"):  # append to the list the layers so far give
                base_key = key[:-1]
                try:
                    current = pick(load(study.profile, values=layers, environ={}), base_key)
                except AttributeError:
                    raise PipelineConfigError(f"{origin}: {key}: no list setting {base_key!r}") from None
                if not isinstance(current, list) or not isinstance(value, list):
                    raise PipelineConfigError(f"{origin}: {key}: appends a list to a list setting")
                layers.append((origin, {base_key: [*current, *value]}))
            else:
                layers.append((origin, {key: value}))
        cfg = load(study.profile, sets, environ=environ, values=layers)
        try:
            validate(cfg)
        except PipelineConfigError as exc:
            raise PipelineConfigError(f"{origin}: {exc}") from None
        configs[arm.name] = cfg
    study.configs = configs
    return configs


def plan(study: Study, configs: dict, out: str) -> dict[str, dict]:
    """Per arm: its stages' keys, and which of them another arm (earlier in the file) runs first."""
    from interplay_verl.pipeline.runner import stage_keys

    seen: dict[tuple[str, str], str] = {}
    out_plan = {}
    for arm in study.arms:
        keys = stage_keys(configs[arm.name])
        stages = with_upstream(arm.stages) if arm.stages else list(STAGES)
        shared = {}
        for stage in [s for s in stages if STAGES[s].enabled(configs[arm.name])]:
            owner = seen.setdefault((stage, keys[stage]), arm.name)
            if owner != arm.name:
                shared[stage] = owner
        out_plan[arm.name] = {"stages": stages, "keys": {s: keys[s] for s in stages}, "shared_with": shared,
                              "out": os.path.join(out, "arms", arm.name)}
    return out_plan


def _arm_peak(result: dict) -> float:
    """The most any stage of the arm held at once, in this launch or an earlier one (its record)."""
    stage_peaks = [c["peak_rss_gb"] for c in result["stages"].values() if c.get("peak_rss_gb") is not None]
    return max([result["peak_rss_gb"], *stage_peaks])


def report_only(study: Study, configs: dict, out: str, store: Optional[str] = None) -> dict:
    """The report from whatever stages have finished, running nothing: a study still running, or one
    stopped part way, can be read. Each arm's links are brought up to date first, to the stages
    complete under its current settings only (an arm without its evaluations is missing from the
    figures, and its findings' checks say they were not run)."""
    from interplay_verl.pipeline.runner import Pipeline
    from interplay_verl.study_report import write_report

    store = store or os.path.join(out, "stages")
    arms_plan = plan(study, configs, out)
    for arm, entry in arms_plan.items():
        Pipeline(configs[arm], out=entry["out"], store=store).link_stages(finished_only=True)
    figures = write_report(study, {a: p["out"] for a, p in arms_plan.items()}, os.path.join(out, "report"))
    return {"study": study.name, "scale": study.scale, "out": os.path.abspath(out),
            "report": os.path.join(os.path.abspath(out), "report", "report.md"),
            "figures": {name: made["png"] for name, made in figures.items()}}


def run_study(study: Study, configs: dict, out: str, store: Optional[str] = None, quiet: bool = False) -> dict:
    from interplay_verl.manifest import write_manifest
    from interplay_verl.pipeline import runner

    store = store or os.path.join(out, "stages")
    arms_plan = plan(study, configs, out)
    results, start = {}, time.time()
    for arm in study.arms:
        entry = arms_plan[arm.name]
        print(f"[study] {study.name} ({study.scale}): arm {arm.name}"
              + (f" (shares {', '.join(sorted(entry['shared_with']))})" if entry["shared_with"] else ""), flush=True)
        configs[arm.name].out = entry["out"]
        results[arm.name] = runner.run(configs[arm.name], entry["stages"] if arm.stages else None, quiet,
                                       store=store)
    from interplay_verl.study_report import write_report

    figures = write_report(study, {a: arms_plan[a]["out"] for a in results}, os.path.join(out, "report"))
    arms = {a: {"out": arms_plan[a]["out"], "seconds": results[a]["seconds"], "stages": results[a]["stages"],
                "peak_rss_gb": _arm_peak(results[a])} for a in results}
    summary = {"study": study.name, "scale": study.scale, "out": os.path.abspath(out), "store": os.path.abspath(store),
               "figures": {name: made["png"] for name, made in figures.items()}, "arms": arms,
               "peak_rss_gb": max((arm["peak_rss_gb"] for arm in arms.values()), default=0.0),
               "seconds": round(time.time() - start, 1)}
    write_manifest(out, config={"study": os.path.abspath(study.path), "scale": study.scale, "profile": study.profile,
                                "arms": {a.name: {"settings": a.settings, "stages": a.stages, "label": a.label}
                                         for a in study.arms}},
                   seed=None, kind="study", plan=arms_plan, last_run=summary)
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="interplay-verl study",
                                description="Run every arm of a study, sharing the stages arms have in common.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="studies: recipes/studies/*.yaml (see docs/studies.md)")
    p.add_argument("study", help="a study file (recipes/studies/*.yaml)")
    p.add_argument("--scale", default="tiny", choices=SCALES,
                   help="which profile and sizes the arms run at (a study file says which it defines)")
    p.add_argument("--arms", help="comma-separated arms to run (default: all of the scale's)")
    p.add_argument("--out", help="output directory (default: outputs/studies/<name>-<scale>)")
    p.add_argument("--store", help="stage store shared between studies (default: <out>/stages)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one setting in every arm (repeatable)")
    p.add_argument("--check", action="store_true", help="compose and check every arm, print the plan, run nothing")
    p.add_argument("--report-only", action="store_true",
                   help="write the report from the stages finished so far, run nothing (a study running or stopped)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        study = read_study(args.study, args.scale)
        if args.arms:
            wanted = [a for a in args.arms.split(",") if a]
            unknown = [a for a in wanted if a not in {arm.name for arm in study.arms}]
            if unknown:
                raise PipelineConfigError(f"--arms {unknown}: the study's arms at scale {args.scale} are "
                                          f"{', '.join(a.name for a in study.arms)}")
            study.arms = [a for a in study.arms if a.name in wanted]
        out = os.path.abspath(args.out or os.path.join("outputs", "studies", f"{study.name}-{args.scale}"))
        configs = compose(study, tuple(args.set))
        if args.check:
            arms_plan = plan(study, configs, out)
            print(json.dumps({"study": study.name, "scale": args.scale, "arms": {
                a: {"shared_with": p["shared_with"], "settings": next(x.settings for x in study.arms if x.name == a),
                    "rl_start": "midtrain" if configs[a].midtrain.enable else "pretrain",
                    "config": as_dict(configs[a]) if len(study.arms) == 1 else None}
                for a, p in arms_plan.items()}}, default=str))
            return 0
        if args.report_only:
            summary = report_only(study, configs, out, args.store)
        else:
            summary = run_study(study, configs, out, args.store, args.quiet)
    except PipelineConfigError as exc:
        from interplay_verl.pipeline.runner import configuration_error

        return configuration_error("study", exc)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
