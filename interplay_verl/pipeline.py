"""``interplay-verl pipeline``: the whole study, one configuration, resumable stage by stage.

    data -> tokenizer -> corpus -> init -> pretrain -> midtrain -> filter -> rl -> evaluate -> report

Every knob lives in one YAML file (``recipes/profiles/tiny.yaml`` is the default, ``paper.yaml``
the paper's scale, ``recipes/experiments/`` the four studies); ``--set section.key=value`` or an
environment variable ``IV__SECTION__KEY=value`` overrides any of them. The resolved
configuration is printed at start, and all of it is checked (keys, op mixtures, contexts, the
band, every verl stage composed against verl's schema) before the first stage runs.

Each stage writes ``<out>/stages/<stage>.json`` with a hash of the configuration it depends on
(its own settings and every upstream stage's). Rerunning skips a stage whose hash matches,
so a killed run resumes at the interrupted stage, and inside the trainer stages from their last
checkpoint. A stage whose recorded hash differs stops the run with the keys that changed: its
outputs would silently mix two configurations.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import sys
import threading
import time
from typing import Any, Optional
from collections.abc import Callable, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILES_DIR = os.path.join(ROOT, "recipes", "profiles")
ENV_PREFIX = "IV__"

SCHEMA: dict[str, Any] = {
    "name": str, "description": str, "device": str, "seed": int, "out": str, "model_profile": str,
    "data": {"modes": list, "contexts": str, "workers": int, "block_size": int, "vocab_size": int},
    "pretrain": {"ops": str, "tokens": int, "config": str, "overrides": list},
    "midtrain": {"enable": bool, "ops": str, "tokens": int, "config": str, "overrides": list},
    "filter": {"ops": str, "modes": list, "contexts": str, "candidates_per_op": int, "n_max": int, "k": int,
               "tau_1": float, "tau_k": float, "give_up_after": int, "round_size": int, "metric": str,
               "temperature": float, "max_new_tokens": int},
    "rl": {"profile": str, "variant": str, "alpha": float, "n_workers": int, "overrides": list},
    "evaluate": {"splits": list, "contexts": list, "modes": list, "per_op": int, "n_samples": int,
                 "temperature": float, "max_new_tokens": int},
}
STAGES = ("data", "tokenizer", "corpus", "init", "pretrain", "midtrain", "filter", "rl", "evaluate", "report")
DEPENDS = {  # the configuration sections each stage's outputs depend on (upstream stages add theirs)
    "data": ("seed", "data", "pretrain.ops", "pretrain.tokens", "midtrain.enable", "midtrain.ops", "midtrain.tokens",
             "filter.ops", "filter.modes", "filter.contexts", "filter.candidates_per_op"),
    "tokenizer": ("data.vocab_size",), "corpus": ("data.block_size",), "init": ("model_profile",),
    "pretrain": ("pretrain", "device"), "midtrain": ("midtrain", "device"), "filter": ("filter",),
    "rl": ("rl", "device"), "evaluate": ("evaluate",), "report": (),
}
UPSTREAM = {"data": (), "tokenizer": ("data",), "corpus": ("tokenizer",), "init": ("tokenizer",),
            "pretrain": ("corpus", "init"), "midtrain": ("pretrain",), "filter": ("midtrain",), "rl": ("filter",),
            "evaluate": ("rl",), "report": ("evaluate",)}


class PipelineConfigError(ValueError):
    """A configuration that cannot run; raised before any stage starts, naming the key."""


# ------------------------------------------------------------------ configuration


def _read_yaml(path: str) -> dict:
    import yaml

    if not os.path.exists(path):
        raise PipelineConfigError(f"{path}: no such pipeline config (profiles: {sorted(os.listdir(PROFILES_DIR))})")
    with open(path) as f:
        cfg = yaml.safe_load(f) or {}
    if not isinstance(cfg, dict):
        raise PipelineConfigError(f"{path}: must be a mapping of the sections {sorted(SCHEMA)}")
    parent = cfg.pop("extends", None)
    if parent:
        base = _read_yaml(os.path.join(os.path.dirname(os.path.abspath(path)), parent))
        cfg = _merge(base, cfg)
    return cfg


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _set(cfg: dict, dotted: str, raw: str, origin: str) -> None:
    import yaml

    keys = dotted.split(".")
    node, schema = cfg, SCHEMA
    for key in keys[:-1]:
        if not isinstance(schema.get(key), dict):
            raise PipelineConfigError(f"{origin}: {dotted}: no section {key!r}; sections: {sorted(k for k, v in SCHEMA.items() if isinstance(v, dict))}")
        node, schema = node.setdefault(key, {}), schema[key]
    if keys[-1] not in schema:
        raise PipelineConfigError(f"{origin}: unknown key {dotted!r}; {'.'.join(keys[:-1]) or 'top level'} has "
                                  f"{sorted(schema)}")
    node[keys[-1]] = yaml.safe_load(raw)


def _check_types(cfg: dict, schema: dict, where: str = "") -> None:
    for key, value in cfg.items():
        path = f"{where}{key}"
        if key not in schema:
            raise PipelineConfigError(f"unknown key {path!r}; allowed here: {sorted(schema)}")
        expected = schema[key]
        if isinstance(expected, dict):
            if not isinstance(value, dict):
                raise PipelineConfigError(f"{path}: must be a section with keys {sorted(expected)}")
            _check_types(value, expected, path + ".")
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            cfg[key] = float(value)
        elif not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise PipelineConfigError(f"{path}={value!r}: must be {expected.__name__}")


OPTIONAL = {"description", "midtrain.enable"}


def _missing(cfg: dict, schema: dict, where: str = "") -> list[str]:
    out = []
    for key, expected in schema.items():
        if key not in cfg:
            if f"{where}{key}" not in OPTIONAL:
                out.append(f"{where}{key}")
        elif isinstance(expected, dict):
            out += _missing(cfg[key], expected, f"{where}{key}.")
    return out


def load(path: str, sets: Sequence[str] = (), environ: Optional[dict] = None) -> dict:
    """The profile at ``path``, then ``IV__SECTION__KEY`` environment variables, then ``--set``s."""
    cfg = _read_yaml(path)
    environ = os.environ if environ is None else environ
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX):
            _set(cfg, name[len(ENV_PREFIX):].lower().replace("__", "."), environ[name], f"environment {name}")
    for item in sets:
        if "=" not in item:
            raise PipelineConfigError(f"--set {item!r}: write section.key=value")
        key, raw = item.split("=", 1)
        _set(cfg, key.strip(), raw, f"--set {item}")
    _check_types(cfg, SCHEMA)
    missing = _missing(cfg, SCHEMA)
    if missing:
        raise PipelineConfigError(f"{path}: missing key(s) {missing}")
    cfg["midtrain"].setdefault("enable", True)
    return cfg


def validate(cfg: dict) -> None:
    """Everything that can be checked without running a stage, so a typo costs seconds, not a stage."""
    from interplay_verl.filters.band import Band
    from interplay_verl.metrics import SPLITS
    from interplay_verl.models import PROFILES
    from interplay_verl.problems.mixtures import context_weights, op_weights
    from interplay_verl.rewards.composite import check_reward_kwargs
    from interplay_verl.train import pretrain, rl

    def guard(key: str, check: Callable[[], Any]) -> Any:
        try:
            return check()
        except (ValueError, KeyError, OSError) as exc:
            raise PipelineConfigError(f"{key}: {exc}") from None

    if cfg["device"] not in ("cpu", "gpu"):
        raise PipelineConfigError(f"device={cfg['device']!r}: use cpu or gpu")
    if cfg["model_profile"] not in PROFILES:
        raise PipelineConfigError(f"model_profile={cfg['model_profile']!r}: choose one of {sorted(PROFILES)}")
    for key in ("pretrain.ops", "midtrain.ops", "filter.ops"):
        section, name = key.split(".")
        guard(key, lambda s=section, n=name: op_weights(cfg[s][n]))
    for key, spec in (("data.contexts", cfg["data"]["contexts"]), ("filter.contexts", cfg["filter"]["contexts"])):
        guard(key, lambda spec=spec: context_weights(spec))
    for mode in cfg["data"]["modes"] + cfg["filter"]["modes"] + cfg["evaluate"]["modes"]:
        if mode not in ("forward", "reverse"):
            raise PipelineConfigError(f"modes: {mode!r} is not forward or reverse")
    f = cfg["filter"]
    guard("filter", lambda: Band(f["tau_1"], f["tau_k"], f["k"], f["metric"]))
    if f["k"] > f["n_max"]:
        raise PipelineConfigError(f"filter.k={f['k']} > filter.n_max={f['n_max']}: pass@k needs k samples")
    guard("rl", lambda: check_reward_kwargs(cfg["rl"]["variant"], cfg["rl"]["alpha"]))
    unknown = [s for s in cfg["evaluate"]["splits"] if s not in SPLITS]
    if unknown:
        raise PipelineConfigError(f"evaluate.splits: {unknown} unknown; choose from {list(SPLITS)}")
    e = cfg["evaluate"]
    if e["n_samples"] > 1 and e["temperature"] <= 0:
        raise PipelineConfigError("evaluate: n_samples > 1 needs temperature > 0")
    placeholder = os.path.abspath(__file__)  # composition needs paths, not their contents
    stages = [("pretrain", cfg["pretrain"])] + ([("midtrain", cfg["midtrain"])] if cfg["midtrain"]["enable"] else [])
    for name, section in stages:
        config = _path(section["config"])
        stage_cfg = guard(f"{name}.config", lambda: pretrain.load_config(config))
        if stage_cfg["stage"] != name:
            raise PipelineConfigError(f"{name}.config: {config} is a {stage_cfg['stage']} config")
        stage_cfg["device"] = cfg["device"]
        overrides = pretrain.stage_overrides(stage_cfg, placeholder, placeholder, placeholder,
                                             extra=section["overrides"], block=cfg["data"]["block_size"])
        guard(f"{name}.overrides", lambda o=overrides, c=stage_cfg: pretrain.check_overrides(
            pretrain.launch.sft_overrides(o, c["device"], int(c.get("nproc", 1)))))
    guard("rl", lambda: rl.check_config(cfg["rl"]["profile"], rl.rl_overrides(
        placeholder, placeholder, placeholder, placeholder, cfg["rl"]["variant"], cfg["rl"]["alpha"],
        cfg["rl"]["overrides"]), cfg["device"], cfg["rl"]["n_workers"]))


def _path(path: str) -> str:
    return path if os.path.isabs(path) else os.path.join(ROOT, path)


def _pick(cfg: dict, dotted: str) -> Any:
    node = cfg
    for key in dotted.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def stage_keys(cfg: dict) -> dict[str, str]:
    """A hash per stage of the settings it depends on, upstream stages' hashes included."""
    keys: dict[str, str] = {}
    for stage in STAGES:
        material = {d: _pick(cfg, d) for d in DEPENDS[stage]}
        material["upstream"] = [keys[u] for u in UPSTREAM[stage]]
        keys[stage] = hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return keys


# ------------------------------------------------------------------ running


class PeakMemory:
    """Peak summed RSS of this process and all its descendants (Ray workers, torchrun ranks), sampled."""

    def __init__(self, interval: float = 1.0):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)]:
                try:
                    total += proc.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Pipeline:
    def __init__(self, cfg: dict, out: Optional[str] = None, quiet: bool = False):
        self.cfg, self.quiet = cfg, quiet
        self.out = os.path.abspath(out or cfg["out"])
        self.keys = stage_keys(cfg)
        self.p = lambda *parts: os.path.join(self.out, *parts)

    def log(self, message: str) -> None:
        print(f"[pipeline] {message}", flush=True)

    def _marker(self, stage: str) -> str:
        return self.p("stages", f"{stage}.json")

    def check_markers(self) -> None:
        """A stage made with other settings stops the run before anything is redone or mixed."""
        for stage in STAGES:
            path = self._marker(stage)
            if os.path.exists(path):
                with open(path) as f:
                    recorded = json.load(f)
                if recorded["key"] != self.keys[stage]:
                    changed = [k for k in recorded.get("settings", {})
                               if recorded["settings"][k] != _jsonable(_pick(self.cfg, k))]
                    raise PipelineConfigError(
                        f"{self.out}: stage {stage!r} was run with a different configuration "
                        f"(changed: {changed or 'an upstream stage'}). Use another --out, or remove "
                        f"{self.p(stage)} and the markers in {self.p('stages')} from {stage!r} on")

    def run(self, only: Optional[Sequence[str]] = None) -> dict:
        from interplay_verl.atomic import atomic_write_text
        from interplay_verl.manifest import write_manifest

        self.check_markers()
        os.makedirs(self.p("stages"), exist_ok=True)
        timings: dict[str, float] = {}
        with PeakMemory() as memory:
            for stage in STAGES:
                if only and stage not in only:
                    continue
                if os.path.exists(self._marker(stage)):
                    self.log(f"{stage}: done before, skipped")
                    continue
                if stage == "midtrain" and not self.cfg["midtrain"]["enable"]:
                    self.log("midtrain: disabled (RL starts from the pre-trained model)")
                start = time.time()
                self.log(f"{stage}: starting")
                getattr(self, f"stage_{stage}")()
                timings[stage] = round(time.time() - start, 1)
                settings = {d: _jsonable(_pick(self.cfg, d)) for d in DEPENDS[stage]}
                atomic_write_text(self._marker(stage), json.dumps(
                    {"key": self.keys[stage], "settings": settings, "seconds": timings[stage]}, indent=2) + "\n")
                self.log(f"{stage}: done in {timings[stage]} s")
        summary = {"out": self.out, "seconds": timings, "peak_rss_gb": round(memory.peak / 2 ** 30, 2),
                   "report": self.p("report", "comparison.md")}
        write_manifest(self.out, config=self.cfg, seed=self.cfg["seed"], kind="pipeline", stage_keys=self.keys,
                       last_run=summary)
        return summary

    # each stage reads only what upstream stages wrote, and writes only its own directories

    def _gen(self, out: str, ops: str, modes: list, contexts: str, seed: int, **amount) -> None:
        from interplay_verl.problems.generate import main as generate

        args = ["--ops", ops, "--modes", ",".join(modes), "--contexts", contexts, "--seed", str(seed),
                "--out", out, "--workers", str(self.cfg["data"]["workers"]), "--resume", "--quiet"]
        args += [f"--{k.replace('_', '-')}={v}" for k, v in amount.items()]
        if generate(args) != 0:
            raise RuntimeError(f"generate {ops} -> {out} failed")

    def stage_data(self) -> None:
        from interplay_verl.data.splits import exclude

        c, d = self.cfg, self.cfg["data"]
        self._gen(self.p("data", "pretrain"), c["pretrain"]["ops"], d["modes"], d["contexts"], c["seed"],
                  tokens=c["pretrain"]["tokens"])
        train = [self.p("data", "pretrain")]
        if c["midtrain"]["enable"]:
            self._gen(self.p("data", "midtrain"), c["midtrain"]["ops"], d["modes"], d["contexts"], c["seed"] + 1,
                      tokens=c["midtrain"]["tokens"])
            train.append(self.p("data", "midtrain"))
        f = c["filter"]
        self._gen(self.p("data", "candidates_all"), f["ops"], f["modes"], f["contexts"], c["seed"] + 2,
                  per_op=f["candidates_per_op"])
        exclude(self.p("data", "candidates_all"), train, self.p("data", "candidates", "rows.parquet"))

    def stage_tokenizer(self) -> None:
        from interplay_verl.tokenizer import main as tokenizer

        if tokenizer(["--rows", self.p("data", "pretrain"), "--out", self.p("tokenizer"),
                      "--vocab-size", str(self.cfg["data"]["vocab_size"])]) != 0:
            raise RuntimeError("tokenizer failed")

    def stage_corpus(self) -> None:
        from interplay_verl.corpus import build

        block = self.cfg["data"]["block_size"]
        build(self.p("data", "pretrain"), self.p("tokenizer"), self.p("corpus"), block, quiet=self.quiet)
        if self.cfg["midtrain"]["enable"]:
            build(self.p("data", "midtrain"), self.p("tokenizer"), self.p("cpt_corpus"), block, quiet=self.quiet)

    def stage_init(self) -> None:
        from interplay_verl.models import init_model

        init_model(self.p("tokenizer"), self.p("init"), self.cfg["model_profile"], self.cfg["seed"])

    def _train(self, stage: str, corpus: str, model: str) -> None:
        from interplay_verl.train import pretrain

        section = self.cfg[stage]
        stage_cfg = pretrain.load_config(_path(section["config"]))
        stage_cfg["device"] = self.cfg["device"]
        pretrain.run(stage_cfg, corpus, model, self.p(stage), extra=section["overrides"],
                     config_path=_path(section["config"]))

    def stage_pretrain(self) -> None:
        self._train("pretrain", self.p("corpus"), self.p("init"))

    def stage_midtrain(self) -> None:
        if self.cfg["midtrain"]["enable"]:
            self._train("midtrain", self.p("cpt_corpus"), self.p("pretrain", "hf"))

    @property
    def rl_start(self) -> str:
        return self.p("midtrain" if self.cfg["midtrain"]["enable"] else "pretrain", "hf")

    def stage_filter(self) -> None:
        from interplay_verl.filters.band import Band, StoppingRule
        from interplay_verl.filters.offline import run_filter

        f = self.cfg["filter"]
        run_filter(self.rl_start, self.p("data", "candidates"), self.p("filter"),
                   Band(f["tau_1"], f["tau_k"], f["k"], f["metric"]), StoppingRule(f["n_max"], f["give_up_after"]),
                   round_size=f["round_size"], temperature=f["temperature"], max_new_tokens=f["max_new_tokens"],
                   seed=self.cfg["seed"], quiet=self.quiet)

    def stage_rl(self) -> None:
        from interplay_verl.train import rl

        r = self.cfg["rl"]
        train = self.p("filter", "rl.parquet")
        rl.run(r["profile"], self.rl_start, train, train, self.p("rl"), self.cfg["device"], r["variant"], r["alpha"],
               r["overrides"], r["n_workers"])

    def checkpoints(self) -> list[tuple[str, str]]:
        out = [("base", self.p("pretrain", "hf"))]
        if self.cfg["midtrain"]["enable"]:
            out.append(("mid", self.p("midtrain", "hf")))
        return out + [("rl", self.p("rl", "hf"))]

    def stage_evaluate(self) -> None:
        from interplay_verl.evaluation import evaluate

        e = self.cfg["evaluate"]
        for name, model in self.checkpoints():
            target = self.p("evaluate", name)
            if os.path.exists(os.path.join(target, "manifest.json")):
                continue  # this checkpoint's evaluation finished before a kill
            self.log(f"evaluate: {name} ({model})")
            evaluate(model, None, target, max_new_tokens=e["max_new_tokens"], quiet=self.quiet,
                     n_samples=e["n_samples"], temperature=e["temperature"], seed=self.cfg["seed"],
                     per_op=e["per_op"], splits=e["splits"], contexts=e["contexts"], modes=e["modes"])

    def stage_report(self) -> None:
        from interplay_verl.comparison import run as compare

        names = [name for name, _ in self.checkpoints()]
        compare([self.p("evaluate", n) for n in names], self.p("report"), names)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def main(argv: Optional[list[str]] = None) -> int:
    import yaml

    p = argparse.ArgumentParser(prog="interplay-verl pipeline", description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", default=os.path.join(PROFILES_DIR, "tiny.yaml"),
                   help="pipeline YAML (recipes/profiles/*.yaml, recipes/experiments/*.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help=f"override one setting (repeatable); environment: {ENV_PREFIX}SECTION__KEY=VALUE")
    p.add_argument("--out", help="output directory (default: the config's `out`)")
    p.add_argument("--only", help=f"comma-separated stages to run (of {','.join(STAGES)})")
    p.add_argument("--check", action="store_true", help="print and check the configuration, run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    try:
        cfg = load(args.config, args.set)
        if args.out:
            cfg["out"] = args.out
        print(f"[pipeline] configuration ({args.config}):\n" + yaml.safe_dump(cfg, sort_keys=False), flush=True)
        only = [s for s in args.only.split(",") if s] if args.only else None
        bad = [s for s in only or [] if s not in STAGES]
        if bad:
            raise PipelineConfigError(f"--only {bad}: stages are {', '.join(STAGES)}")
        validate(cfg)
        pipeline = Pipeline(cfg, quiet=args.quiet)
        if args.check:
            pipeline.check_markers()
            print(json.dumps({"config": "ok", "out": pipeline.out, "stage_keys": pipeline.keys}))
            return 0
        summary = pipeline.run(only)  # checks the markers first
    except PipelineConfigError as exc:
        print(f"interplay-verl pipeline: configuration error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
