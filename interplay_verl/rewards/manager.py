"""verl reward managers that score what the model wrote, tags included, whatever its tokenizer.

verl's ``naive`` and ``remote`` managers decode a response with ``skip_special_tokens=True``;
with the paper's released tokenizer, where the six tags are special, every response then
reaches the reward without ``<answer>`` and scores 0. These are the same managers with one
change, the decoding (``rewards.decoding.completion_text``: pad, BOS, EOS and other special
tokens dropped, the tags kept); the reward function is whatever the config names
(``interplay_verl.rewards.composite.compute_score``). Select one by name::

    reward.reward_manager.name=interplay          # verl's naive manager, in the reward worker
    reward.reward_manager.name=interplay_remote   # verl's remote manager, scoring in Ray workers

They are registered in verl's reward-manager registry when verl imports that registry
(``interplay_verl.plugin``), in whichever process that is.
"""

from __future__ import annotations

from verl.experimental.reward_loop.reward_manager import register
from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
from verl.experimental.reward_loop.reward_manager.remote import RemoteRewardManager

from interplay_verl.rewards.decoding import completion_text


class TagKeepingTokenizer:
    """A tokenizer whose ``decode`` keeps the tags (``skip_special_tokens`` is ignored); every
    other attribute is the wrapped tokenizer's."""

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer

    def decode(self, token_ids, skip_special_tokens: bool = False, **kwargs) -> str:
        if hasattr(token_ids, "tolist"):
            token_ids = token_ids.tolist()
        return completion_text(self._tokenizer, token_ids)

    def __getattr__(self, name):
        return getattr(self._tokenizer, name)


@register("interplay")
class InterplayRewardManager(NaiveRewardManager):
    """verl's naive reward manager, decoding with the tags kept."""

    def __init__(self, config, tokenizer, compute_score, reward_router_address=None, reward_model_tokenizer=None):
        super().__init__(config, tokenizer, compute_score, reward_router_address, reward_model_tokenizer)
        self.tokenizer = TagKeepingTokenizer(tokenizer)


@register("interplay_remote")
class InterplayRemoteRewardManager(RemoteRewardManager):
    """verl's remote reward manager (scores in Ray workers), decoding with the tags kept."""

    def __init__(self, config, tokenizer, compute_score, reward_router_address=None, reward_model_tokenizer=None):
        super().__init__(config, tokenizer, compute_score, reward_router_address, reward_model_tokenizer)
        self.tokenizer = TagKeepingTokenizer(tokenizer)
