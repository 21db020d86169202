"""Sampling through verl's rollout replicas started standalone (the ``cpu`` replica here; vLLM on GPU)."""

import time

import pytest

from interplay_verl.backends.cpu.rollout import server_actor_name
from interplay_verl.sampling import sampler

pytestmark = pytest.mark.slow  # a Ray cluster with two replicas


@pytest.fixture(scope="module")
def ray_two_gpus():
    """A local Ray with two logical GPUs, one per replica, as a 2-device node would have."""
    import ray

    ray.init(num_cpus=4, num_gpus=2, include_dashboard=False, namespace="replicas-test")
    yield ray
    ray.shutdown()


def test_two_replicas_sample_independent_reproducible_draws_and_free_their_devices(ray_two_gpus, tiny_model):
    ray = ray_two_gpus
    prompts = ["<question> Define", "<question>"]
    with sampler(tiny_model, "replicas", batch_size=8, device="cpu", n_replicas=2, seed=0) as replicas:
        groups = replicas.sample(prompts, 16, max_new_tokens=16, temperature=1.0, seed=3, quiet=True)
        assert [len(g) for g in groups] == [16, 16]
        assert {ray.get_actor(server_actor_name(rank)) is not None for rank in (0, 1)} == {True}
        assert len(set(groups[0])) >= 8 and len(set(groups[1])) >= 8  # independent draws, not 16 copies
        assert min(replicas.served) > 0 and sum(replicas.served) == 32  # both replicas served requests
        again = replicas.sample(prompts, 16, max_new_tokens=16, temperature=1.0, seed=3, quiet=True)
        assert again == groups  # the same seed reproduces them, whichever replica served which request
        other = replicas.sample(prompts, 16, max_new_tokens=16, temperature=1.0, seed=4, quiet=True)
        assert other != groups
        greedy = replicas.sample(prompts, 1, max_new_tokens=12, temperature=0.0, quiet=True)
        assert greedy == sampler(tiny_model, "hf").sample(prompts, 1, max_new_tokens=12, temperature=0.0, quiet=True)
    assert {g["state"] for g in ray.util.placement_group_table().values()} == {"REMOVED"}
    deadline = time.time() + 30  # the resource view follows the removal a moment later
    while ray.available_resources().get("GPU") != 2 and time.time() < deadline:
        time.sleep(0.5)
    assert ray.available_resources().get("GPU") == 2  # both devices free again for the next stage
    for rank in (0, 1):  # the servers are gone
        with pytest.raises(ValueError, match="Failed to look up actor"):
            ray.get_actor(server_actor_name(rank))
