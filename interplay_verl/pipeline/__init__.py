"""The study as a pipeline of stages from one profile: ``config`` (typed sections),
``stages`` (the stage table), ``runner`` (order, markers, resume; ``interplay-verl pipeline``)."""

from interplay_verl.pipeline.config import PipelineConfigError, load, register_section, validate
from interplay_verl.pipeline.runner import Pipeline, main, stage_keys
from interplay_verl.pipeline.stages import STAGES, Stage, register_stage, unregister_stage

__all__ = ["STAGES", "Pipeline", "PipelineConfigError", "Stage", "load", "main", "register_section",
           "register_stage", "stage_keys", "unregister_stage", "validate"]
