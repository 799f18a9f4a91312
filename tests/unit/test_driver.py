"""The n_eff stopping rule of the importance-sampling loop, on weights chosen by hand."""

import numpy as np
import pytest

from bilby_dingo.importance_sampling.draws import DrawStore
from bilby_dingo.importance_sampling.driver import ImportanceSamplingRun
from bilby_dingo.importance_sampling.statistics import split_n_eff, summarize
from bilby_dingo.settings import DingoSettings

TARGET = 400


def loop_over(log_likelihood, num_batches=2):
    """An ImportanceSamplingRun whose store holds evaluated draws with these log weights (log π = log q = 0)."""
    n = len(log_likelihood)
    store = DrawStore(["x"], "test", 0, theta=np.zeros((n, 1)), log_proposal=np.zeros(n), log_prior=np.zeros(n),
                      log_likelihood=np.asarray(log_likelihood, dtype=float), log_auxiliary=np.zeros(n),
                      num_evaluated=n, num_batches=num_batches)
    settings = DingoSettings.from_kwargs(dict(target_n_eff=TARGET, batch_size=500))
    return ImportanceSamplingRun(None, None, ["x"], None, settings, np.random.default_rng(0), store)


def test_settled_weights_stop_the_run():
    run = loop_over(np.zeros(1000))
    assert run._next_batch_size() == 0


def test_a_late_large_weight_keeps_the_run_going_although_n_eff_passed_the_target():
    # 1,000 equal weights and, in the second half, one 40 times larger: n_eff ≈ 415 over all draws passes
    # the target of 400, but the second half's n_eff ≈ 138 is below half of it: the estimate has not settled.
    log_w = np.r_[np.zeros(999), np.log(40.0)]
    assert summarize(log_w).n_eff > TARGET and min(split_n_eff(log_w)) < TARGET / 2
    run = loop_over(log_w)
    assert run._next_batch_size() == 500


def test_the_pilot_batch_never_stops_the_run():
    run = loop_over(np.zeros(1000), num_batches=1)
    assert summarize(run.store.evaluated_log_weights()).n_eff == pytest.approx(1000)
    assert run._next_batch_size() == 500
