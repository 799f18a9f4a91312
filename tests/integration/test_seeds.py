"""One seed drives everything: the proposal is set up with the seed the run records."""

import pytest

from tests.integration.test_sampler import run, student_t


@pytest.fixture
def setup_seeds(monkeypatch):
    """Replace the model-file proposal by a Student-t, recording the seed it is set up with."""
    from bilby_dingo.proposals import factory

    seeds = []

    def fake_network_proposal(*args, seed, **kwargs):
        seeds.append(seed)
        return student_t()

    monkeypatch.setattr(factory, "network_proposal", fake_network_proposal)
    return seeds


SETTINGS = dict(model="unused.pt", num_samples=300, batch_size=100, refine=False, diagnostic_plots=False)


def test_an_unseeded_run_sets_up_its_proposal_with_the_seed_it_records(tmp_path, setup_seeds):
    result = run(tmp_path, **{**SETTINGS, "sampling_seed": None})
    recorded = result.meta_data["dingo"]["sampling_seed"]
    assert setup_seeds == [recorded], (setup_seeds, recorded)


def test_a_resumed_run_sets_up_its_proposal_with_the_checkpoints_seed(tmp_path, setup_seeds):
    run(tmp_path, **{**SETTINGS, "sampling_seed": 5, "num_samples": 200})
    resumed = run(tmp_path, **{**SETTINGS, "sampling_seed": 6})
    assert resumed.meta_data["dingo"]["sampling_seed"] == 5
    assert setup_seeds == [5, 5]
