"""The pipeline's configuration: typed sections (dataclasses) read through OmegaConf.

A profile is a YAML file of these sections (``recipes/profiles/tiny.yaml`` is the default,
``paper.yaml`` the paper's scale; a study's arms are settings over one, ``recipes/studies/``); ``extends:`` names a
profile it builds on. Overrides come from ``IV__SECTION__KEY=value`` environment variables, then
``--set section.key=value``. OmegaConf checks keys and types against the dataclasses; this
module turns its errors into one line naming the key, and ``validate`` checks what types
cannot (mixtures, contexts, the band, every verl stage composed against verl's schema), all
before the first stage runs.

A stage that needs settings of its own registers a section with ``register_section``.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field, fields, is_dataclass, make_dataclass
from typing import Any, Optional
from collections.abc import Callable
from collections.abc import Sequence

from omegaconf import MISSING

from interplay_verl.metrics import SPLITS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROFILES_DIR = os.path.join(ROOT, "recipes", "profiles")
ENV_PREFIX = "IV__"


class PipelineConfigError(ValueError):
    """A configuration that cannot run; raised before any stage starts, naming the key."""


@dataclass
class ClusterConfig:
    """The devices every stage spreads over. On CPU a device is a logical Ray GPU (one gloo rank or
    one generation replica each); a Ray head without devices is not a node here."""

    nodes: int = 1  # worker nodes with devices
    gpus_per_node: int = 1  # devices per worker node (verl's trainer.n_gpus_per_node)
    tensor_parallel: int = 1  # devices per generation replica (filter, evaluation; 1 for ~100M models)

    @property
    def devices(self) -> int:
        return self.nodes * self.gpus_per_node

    @property
    def replicas(self) -> int:
        return self.devices // self.tensor_parallel


@dataclass
class ModelConfig:
    size: str = "0.8m"  # interplay_verl.models.SIZES


@dataclass
class DataConfig:
    style: str = "interplay"  # generator style: ours, or "paper" (the paper's problems and wording)
    # style interplay at CPU scale (docs/paper-differences.md): the largest value, the most distractors,
    # the most entities a problem spreads over, and the solutions' variable letters ("ordered": a, b, c,
    # ... as defined) instead of the paper's 1000, 4, 3 and random ones
    max_value: int = 1000
    max_distractors: int = 4
    max_entities: int = 3
    letters: str = "random"
    modes: list[str] = field(default_factory=lambda: ["forward"])
    contexts: str = "zoo"
    workers: int = 1
    block_size: int = 1024
    vocab_size: int = 2200
    # existing rows (e.g. the paper's, through `interplay-verl import`) to draw RL candidates and
    # evaluation problems from, instead of generating them; "" generates
    candidates_from: str = ""
    eval_from: str = ""


@dataclass
class PretrainConfig:
    ops: str = MISSING
    tokens: int = MISSING
    # a context's own op mixture, e.g. {school: "2"}: B seen only at op 2 while data.contexts' others follow ops
    context_ops: dict[str, str] = field(default_factory=dict)
    config: str = MISSING  # recipes/configs/pretrain_*.yaml
    overrides: list[str] = field(default_factory=list)  # verl sft_trainer overrides


@dataclass
class MidtrainConfig(PretrainConfig):
    enable: bool = True  # false: RL starts from the pre-trained model


@dataclass
class FilterConfig:
    """The RL candidates (ops, modes, contexts, how many) and the offline edge filter over them."""

    ops: str = MISSING
    enable: bool = True  # false: RL trains on every candidate (the paper's protocol), no band
    modes: list[str] = field(default_factory=lambda: ["forward"])
    contexts: str = "zoo"
    candidates_per_op: int = MISSING
    n_max: int = 128
    k: int = 128
    tau_1: float = 0.5
    tau_k: float = 0.5
    give_up_after: int = 64
    round_size: int = 8
    metric: str = "outcome"
    temperature: float = 1.0
    max_new_tokens: int = 256


@dataclass
class RLConfig:
    config_name: str = "interplay_grpo_cpu"  # a GRPO Hydra config of interplay_verl/configs
    variant: str = "gated"
    alpha: float = 0.2
    semantics: str = "interplay"  # how the reward (and the filter) read a solution: ours, or "paper"
    # start from the mid-training checkpoint of this step (0: its end); one long mid-training run then
    # serves every compute budget, as in the paper's compute study
    start_step: int = 0
    online_filter: bool = True  # our online edge filter (false: every prompt every epoch, as the paper)
    steps: int = 0  # GRPO steps (trainer.total_training_steps, after `overrides`); 0: the config's
    overrides: list[str] = field(default_factory=list)  # verl main_ppo overrides


@dataclass
class EvaluateConfig:
    splits: list[str] = field(default_factory=lambda: list(SPLITS))
    contexts: list[str] = field(default_factory=lambda: ["zoo"])
    modes: list[str] = field(default_factory=lambda: ["forward"])
    per_op: int = 10
    n_samples: int = 1
    temperature: float = 0.0
    max_new_tokens: int = 256
    semantics: str = "interplay"  # how samples are scored: ours, or "paper" (the released reward's reading)


SECTIONS: dict[str, type] = {"cluster": ClusterConfig, "model": ModelConfig, "data": DataConfig, "pretrain": PretrainConfig,
                             "midtrain": MidtrainConfig, "filter": FilterConfig, "rl": RLConfig,
                             "evaluate": EvaluateConfig}
TOP_LEVEL = (("name", str, MISSING), ("description", str, ""), ("device", str, "cpu"), ("seed", int, 0),
             ("out", str, MISSING))
CHECKS: list[Callable[[Any], None]] = []  # a registered section's own checks, run by validate()


def register_section(name: str, section: type, check: Optional[Callable[[Any], None]] = None) -> None:
    """Add a typed section (a dataclass) to every pipeline configuration, with an optional check."""
    if not is_dataclass(section):
        raise TypeError(f"section {name!r}: {section!r} is not a dataclass")
    SECTIONS[name] = section
    if check is not None:
        CHECKS.append(check)


def schema() -> type:
    """The configuration dataclass: the top-level keys and one field per registered section."""
    return make_dataclass("PipelineConfig", [(n, t, field(default=d)) for n, t, d in TOP_LEVEL]
                          + [(n, t, field(default_factory=t)) for n, t in SECTIONS.items()])


def _read_yaml(path: str) -> dict:
    import yaml

    if not os.path.exists(path):
        raise PipelineConfigError(f"{path}: no such pipeline config (profiles: {sorted(os.listdir(PROFILES_DIR))})")
    with open(path) as f:
        cfg = yaml.safe_load(f) or {}
    if not isinstance(cfg, dict):
        raise PipelineConfigError(f"{path}: must be a mapping of the sections {sorted(SECTIONS)}")
    parent = cfg.pop("extends", None)
    if parent:
        cfg = _merge(_read_yaml(os.path.join(os.path.dirname(os.path.abspath(path)), parent)), cfg)
    return cfg


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _explain(exc: Exception, origin: str) -> PipelineConfigError:
    """OmegaConf's error as one line: the full key, what is wrong, what is allowed."""
    from omegaconf.errors import ConfigKeyError, ValidationError

    key = getattr(exc, "full_key", None) or getattr(exc, "key", None) or "?"
    if isinstance(exc, ConfigKeyError):
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        section = SECTIONS.get(parent)
        allowed = sorted(f.name for f in fields(section)) if section else [n for n, _, _ in TOP_LEVEL] + sorted(SECTIONS)
        return PipelineConfigError(f"{origin}: unknown key {key!r}; {parent or 'the top level'} has {allowed}")
    if isinstance(exc, ValidationError):
        return PipelineConfigError(f"{origin}: {key}: {' '.join(str(getattr(exc, 'msg', exc)).split())}")
    return PipelineConfigError(f"{origin}: {' '.join(str(exc).split())}")


def load(path: str, sets: Sequence[str] = (), environ: Optional[dict] = None,
         values: Sequence[tuple[str, dict]] = ()):
    """The profile at ``path`` over the typed defaults, then ``values`` (``(origin, {dotted key: value})``
    layers, e.g. a study's arm), then ``IV__SECTION__KEY`` variables, then ``--set``s.

    Returns the configuration as the dataclass instance of ``schema()`` (attribute access)."""
    import yaml
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    cfg = OmegaConf.structured(schema())
    layers = [(path, _read_yaml(path))]
    for origin, table in values:
        for dotted, value in table.items():
            layers.append((f"{origin}: {dotted}", {dotted: value}))
    environ = os.environ if environ is None else environ
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX):
            layers.append((f"environment {name}", {name[len(ENV_PREFIX):].lower().replace("__", "."): environ[name]}))
    for item in sets:
        if "=" not in item:
            raise PipelineConfigError(f"--set {item!r}: write section.key=value")
        key, raw = item.split("=", 1)
        layers.append((f"--set {item}", {key.strip(): raw}))
    for origin, layer in layers:
        if origin != path:  # a dotted override; a string from --set or the environment is YAML, like the profile
            ((dotted, raw),) = layer.items()
            layer = node = {}
            keys = dotted.split(".")
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            parsed = origin.startswith(("--set ", "environment "))
            node[keys[-1]] = yaml.safe_load(raw) if parsed else raw
        try:
            cfg = OmegaConf.merge(cfg, layer)
        except OmegaConfBaseException as exc:
            raise _explain(exc, origin) from None
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise PipelineConfigError(f"{path}: missing key(s) {missing}")
    return OmegaConf.to_object(cfg)


def from_dict(values: dict):
    """The configuration back from ``as_dict`` (e.g. on another node of a cluster)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema()), values))


def as_dict(cfg) -> dict:
    from dataclasses import asdict

    return asdict(cfg)


def pick(cfg, dotted: str) -> Any:
    node = cfg
    for key in dotted.split("."):
        node = getattr(node, key)
    return node


def resolve(path: str) -> str:
    """A path in a profile is relative to the repository root."""
    return path if os.path.isabs(path) else os.path.join(ROOT, path)


def verl_extra(cfg, name: str) -> list[str]:
    """A trainer stage's verl overrides from the profile: the cluster's shape, then the section's own."""
    extra = [f"trainer.nnodes={cfg.cluster.nodes}"]
    if name == "rl" and not cfg.rl.online_filter:
        extra.append("interplay.online_filter.enable=false")
    last = [f"trainer.total_training_steps={cfg.rl.steps}"] if name == "rl" and cfg.rl.steps else []
    return [*extra, *getattr(cfg, name).overrides, *last]  # verl (Hydra) takes a key's last value


def trainer_configs(cfg, guard: Optional[Callable[[str, Callable[[], Any]], Any]] = None) -> dict:
    """Every enabled trainer stage's verl config, composed as the stage will compose it (from
    placeholder paths: no file is read), and checked to save checkpoints (``launch.check_saves``)."""
    from interplay_verl.train import launch, pretrain, rl

    guard = guard or (lambda key, check: check())
    placeholder = os.path.abspath(__file__)  # composition needs paths, not their contents
    out = {}
    for name in ("pretrain", "midtrain"):
        section = getattr(cfg, name)
        if name == "midtrain" and not section.enable:
            continue
        config = resolve(section.config)
        stage_cfg = guard(f"{name}.config", lambda config=config: pretrain.load_config(config))
        if stage_cfg["stage"] != name:
            raise PipelineConfigError(f"{name}.config: {config} is a {stage_cfg['stage']} config")
        overrides = pretrain.stage_overrides(stage_cfg, placeholder, placeholder, placeholder,
                                             extra=verl_extra(cfg, name), block=cfg.data.block_size)
        out[name] = guard(f"{name}.overrides", lambda o=overrides, n=name: launch.check_saves(launch.check_overrides(
            launch.sft_overrides(o, cfg.device, cfg.cluster.gpus_per_node)), n))
    out["rl"] = guard("rl", lambda: rl.check_config(cfg.rl.config_name, rl.rl_overrides(
        placeholder, placeholder, placeholder, placeholder, cfg.rl.variant, cfg.rl.alpha, verl_extra(cfg, "rl")),
        cfg.device, cfg.cluster.gpus_per_node))
    return out


def _check_start_step(cfg, composed: dict) -> None:
    """rl.start_step must name a step the mid-training run saves a checkpoint at."""
    if cfg.rl.steps < 0:
        raise PipelineConfigError(f"rl.steps={cfg.rl.steps}: a number of GRPO steps, or 0 for the config's")
    step = cfg.rl.start_step
    if step == 0:
        return
    if step < 0 or not cfg.midtrain.enable:
        raise PipelineConfigError(f"rl.start_step={step}: must be 0 (the end) or a mid-training step, with "
                                  "midtrain.enable=true")
    trainer = composed["midtrain"].trainer
    total, freq = trainer.get("total_training_steps"), trainer.get("save_freq")
    if isinstance(total, int) and step > total:
        raise PipelineConfigError(f"rl.start_step={step}: mid-training runs {total} steps")
    if step % freq and step != total:
        raise PipelineConfigError(f"rl.start_step={step}: mid-training saves every {freq} steps "
                                  f"(trainer.save_freq in midtrain.overrides); choose a multiple of {freq}")
    keep = trainer.get("max_ckpt_to_keep")
    if isinstance(keep, int) and isinstance(total, int) and keep > 0 and step <= total - keep * freq:
        raise PipelineConfigError(f"rl.start_step={step}: mid-training keeps only its last {keep} checkpoints "
                                  f"(trainer.max_ckpt_to_keep); add trainer.max_ckpt_to_keep=null to midtrain.overrides")


def sampler_of(data: DataConfig):
    """The generator's ``SamplerConfig`` for a data section (its ``SAMPLER_OPTIONS`` fields)."""
    from interplay_verl.problems.sampler import SAMPLER_OPTIONS, SamplerConfig

    return SamplerConfig(**{k: getattr(data, k) for k in SAMPLER_OPTIONS})


def validate(cfg) -> None:
    """Everything that can be checked without running a stage, so a typo costs seconds, not a stage."""
    from interplay_verl.filters.band import Band
    from interplay_verl.metrics import splits_ops
    from interplay_verl.models import SIZES
    from interplay_verl.problems.contexts import load_context
    from interplay_verl.problems.mixtures import context_weights, op_weights
    from interplay_verl.problems.sampler import MODES
    from interplay_verl.data.rows import row_files
    from interplay_verl.rewards.composite import check_reward_kwargs

    def guard(key: str, check: Callable[[], Any]) -> Any:
        try:
            return check()
        except (ValueError, KeyError, OSError) as exc:
            raise PipelineConfigError(f"{key}: {exc}") from None

    if cfg.device not in ("cpu", "gpu"):
        raise PipelineConfigError(f"device={cfg.device!r}: use cpu or gpu")
    if cfg.model.size not in SIZES:
        raise PipelineConfigError(f"model.size={cfg.model.size!r}: choose one of {sorted(SIZES)}")
    from interplay_verl.problems.sampler import MAX_OP, sampler_options

    for key in ("pretrain.ops", "midtrain.ops", "filter.ops"):
        ops = guard(key, lambda key=key: op_weights(pick(cfg, key)))
        if not all(2 <= op <= MAX_OP for op in ops):
            raise PipelineConfigError(f"{key}={pick(cfg, key)!r}: ops must lie in 2..{MAX_OP}")
    covered = set(guard("evaluate.splits", lambda: splits_ops(cfg.evaluate.splits)))
    if covered and max(covered) > MAX_OP:
        raise PipelineConfigError(f"evaluate.splits {cfg.evaluate.splits}: ops must lie in 2..{MAX_OP}")
    missing = sorted(set(op_weights(cfg.filter.ops)) - covered)
    if missing:
        raise PipelineConfigError(f"filter.ops={cfg.filter.ops!r}: RL validates on held-out problems at its ops, but "
                                  f"evaluate.splits {cfg.evaluate.splits} hold none at op {missing}; add the split")
    for key in ("data.contexts", "filter.contexts"):
        guard(key, lambda key=key: [load_context(c) for c in context_weights(pick(cfg, key))])
    shares = context_weights(cfg.data.contexts)
    for section in ("pretrain", "midtrain"):
        for name, spec in pick(cfg, f"{section}.context_ops").items():
            key = f"{section}.context_ops.{name}"
            if name not in shares:
                raise PipelineConfigError(f"{key}: {name!r} is not one of data.contexts ({', '.join(shares)})")
            if not all(2 <= op <= MAX_OP for op in guard(key, lambda spec=spec: op_weights(str(spec)))):
                raise PipelineConfigError(f"{key}={spec!r}: ops must lie in 2..{MAX_OP}")
    guard("evaluate.contexts", lambda: [load_context(c) for c in cfg.evaluate.contexts])
    from interplay_verl.problems.rows import STYLES

    if cfg.data.style not in STYLES:
        raise PipelineConfigError(f"data.style={cfg.data.style!r}: choose one of {', '.join(STYLES)}")
    try:
        sampler_of(cfg.data).check()
    except ValueError as exc:
        raise PipelineConfigError(f"data.{exc}") from None
    if cfg.data.style != "interplay" and sampler_of(cfg.data).changed():
        raise PipelineConfigError(f"data.style={cfg.data.style}: {sampler_options(lambda k: 'data.' + k)} apply to "
                                  "style interplay only; leave them out")
    for key in ("data.modes", "filter.modes", "evaluate.modes"):
        bad = [m for m in pick(cfg, key) if m not in MODES]
        if bad:
            raise PipelineConfigError(f"{key}: {bad} not in {list(MODES)}")
    f = cfg.filter
    guard("filter", lambda: Band(f.tau_1, f.tau_k, f.k, f.metric))
    if f.k > f.n_max:
        raise PipelineConfigError(f"filter.k={f.k} > filter.n_max={f.n_max}: pass@k needs k samples")
    guard("rl", lambda: check_reward_kwargs(cfg.rl.variant, cfg.rl.alpha, cfg.rl.semantics))
    guard("evaluate.semantics", lambda: check_reward_kwargs(semantics=cfg.evaluate.semantics))
    for key in ("data.candidates_from", "data.eval_from"):
        if pick(cfg, key):
            guard(key, lambda key=key: row_files(resolve(pick(cfg, key))))
    e = cfg.evaluate
    if e.n_samples < 1 or (e.n_samples > 1 and e.temperature <= 0):
        raise PipelineConfigError("evaluate: n_samples > 1 needs temperature > 0")
    c = cfg.cluster
    if c.nodes < 1 or c.gpus_per_node < 1 or c.tensor_parallel < 1 or c.gpus_per_node % c.tensor_parallel:
        raise PipelineConfigError(f"cluster: nodes={c.nodes}, gpus_per_node={c.gpus_per_node}, tensor_parallel="
                                  f"{c.tensor_parallel}: need positive counts and tensor_parallel dividing gpus_per_node")
    composed = trainer_configs(cfg, guard)
    _check_start_step(cfg, composed)
    for check in CHECKS:
        guard("config", lambda check=check: check(cfg))
