"""The curated mutants: one-line errors in places where a silent mistake would cost users a wrong answer.

Each is (name, file, exact original text, replacement, tests that must catch it, why it matters). The text,
not a line number, locates the change, so a mutant survives edits elsewhere in the file; the runner reports
an original that is no longer found exactly once as an error. Tests are pytest node ids or files, chosen to
be the specific, fast tests that should notice the error.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    original: str
    replacement: str
    tests: tuple
    why: str


STATISTICS = "bilby_dingo/importance_sampling/statistics.py"
DRIVER = "bilby_dingo/importance_sampling/driver.py"
DRAWS = "bilby_dingo/importance_sampling/draws.py"
PLUGIN = "bilby_dingo/plugin.py"
MERGE = "bilby_dingo/importance_sampling/merge.py"
REFINEMENT = "bilby_dingo/importance_sampling/refinement.py"
MIXTURE = "bilby_dingo/proposals/mixture.py"
GNPE = "bilby_dingo/proposals/gnpe.py"
NETWORK = "bilby_dingo/proposals/network.py"
RESULT_META = "bilby_dingo/importance_sampling/result_meta.py"
PROXY_DENSITY = "bilby_dingo/proposals/proxy_density.py"
SKY_FRAME = "bilby_dingo/proposals/sky_frame.py"
FITTED = "bilby_dingo/proposals/fitted.py"
FITTED_FLOW = "bilby_dingo/proposals/fitted_flow.py"
DETECTOR = "bilby_dingo/simulation/detector.py"
EVALUATION = "bilby_dingo/training/evaluation.py"

T_STATISTICS = "tests/unit/test_statistics.py"
T_DRIVER = "tests/unit/test_driver.py"
T_SAMPLER = "tests/integration/test_sampler.py"
T_CHECKPOINT = "tests/integration/test_checkpoint.py"
T_UNTRUSTED = "tests/integration/test_untrusted_files.py"
T_RESULTS = "tests/integration/test_results_io.py"
T_REFINE_UNIT = "tests/unit/test_refinement.py"
T_GNPE_UNIT = "tests/unit/test_gnpe.py"
T_GNPE = "tests/integration/test_gnpe_inference.py"
T_NETWORK_DENSITY = "tests/integration/test_refinement.py::test_network_density_at_given_points"
T_GNPE_DENSITY = "tests/integration/test_refinement.py::test_gnpe_density_at_given_points"
T_KNOWN = "tests/cross_validation/test_known_answers.py"
T_SKY = "tests/unit/test_sky_frame.py"

MUTANTS = [
    # --- importance weights, log Z, n_eff, σ ------------------------------------------------------------
    Mutant("weight-sign", STATISTICS,
           "log_likelihood[valid] + log_prior[valid] - log_proposal[valid]",
           "log_likelihood[valid] + log_prior[valid] + log_proposal[valid]",
           (T_STATISTICS,), "log w = log L + log π − log q: a sign error weighs by q instead of 1/q"),
    Mutant("nonfinite-likelihood-kept", STATISTICS,
           "valid = np.isfinite(log_prior) & np.isfinite(log_likelihood)",
           "valid = np.isfinite(log_prior)",
           (T_STATISTICS,), "a NaN/inf likelihood must give weight 0, not poison log Z"),
    Mutant("evidence-counts-only-nonzero", STATISTICS,
           "log_evidence = float(log_sum - np.log(num_draws))",
           "log_evidence = float(log_sum - np.log(np.count_nonzero(nonzero)))",
           (T_STATISTICS,), "N counts every draw, zero weights included (else log Z is too high)"),
    Mutant("n-eff-formula", STATISTICS,
           "n_eff = float(np.exp(2 * log_sum - logsumexp(2 * log_w[nonzero])))",
           "n_eff = float(np.exp(log_sum - logsumexp(log_w[nonzero])) * np.count_nonzero(nonzero))",
           (T_STATISTICS,), "n_eff = (Σw)²/Σw², not the number of non-zero weights"),
    Mutant("sigma-formula", STATISTICS,
           "np.sqrt(max(num_draws - n_eff, 0.0) / (num_draws * n_eff))",
           "np.sqrt(max(num_draws - n_eff, 0.0) / (num_draws * num_draws))",
           (T_STATISTICS,), "σ_logZ = sqrt((N − n_eff)/(N n_eff)): a wrong error bar misleads every comparison"),
    Mutant("weights-column-unnormalised", RESULT_META,
           "return np.exp(log_w - logsumexp(log_w))",
           "return np.exp(log_w - np.max(log_w))",
           (f"{T_SAMPLER}::test_result_contents",), "result.nested_samples['weights'] must sum to one"),
    # --- the stopping rule ------------------------------------------------------------------------------
    Mutant("stopping-rule-split-half", DRIVER,
           "if summarize(log_w).n_eff >= target and min(split_n_eff(log_w)) >= target / 2:",
           "if summarize(log_w).n_eff >= target:",
           (T_DRIVER,), "a large weight that just appeared must stop the run from stopping (DINGO-IS: ×2.9)"),
    Mutant("stopping-rule-pilot-batch", DRIVER,
           "if self.store.num_batches >= 2:",
           "if self.store.num_batches >= 1:",
           (f"{T_SAMPLER}::test_pilot_batch_alone_never_stops_the_run", T_DRIVER),
           "the pilot batch alone overstates n_eff and must never stop the run"),
    Mutant("max-samples-overshot", DRIVER,
           "return min(settings.batch_size, settings.max_samples - drawn)",
           "return settings.batch_size",
           (f"{T_SAMPLER}::test_target_n_eff_stops_at_max_samples",), "the draw budget must bound the run"),
    # --- prior support -----------------------------------------------------------------------------------
    Mutant("likelihood-called-outside-prior", DRIVER,
           "inside = first + np.flatnonzero(store.needs_likelihood(first, last))",
           "inside = np.arange(first, last)",
           (f"{T_SAMPLER}::test_draws_outside_prior_get_zero_weight_without_a_likelihood_call",),
           "draws outside the prior must get weight 0 without a likelihood call (waveforms fail there)"),
    Mutant("fitted-density-jacobian", "bilby_dingo/proposals/fitted.py",
           "terms = -np.log((self.upper - self.lower)[squash]) - np.log(unit) - np.log1p(-unit)",
           "terms = -np.log((self.upper - self.lower)[squash])",
           (f"{T_REFINE_UNIT}::test_fitted_density_is_normalised_inside_the_prior_and_keeps_a_wrapped_mode_whole",),
           "the logit map's Jacobian makes the refined density normalised inside the prior's bounds"),
    # --- rejection sampling / resampling ------------------------------------------------------------------
    Mutant("rejection-acceptance-power", STATISTICS,
           "acceptance = np.exp(log_w - np.max(log_w))",
           "acceptance = np.exp(0.5 * (log_w - np.max(log_w)))",
           (T_STATISTICS,), "keep draw i with probability w_i / max w: any other power distorts the posterior"),
    Mutant("resampling-ignores-weights", STATISTICS,
           "cumulative = np.cumsum(probabilities / probabilities.sum())",
           "cumulative = np.cumsum(np.where(probabilities > 0, 1.0, 0.0)) / np.count_nonzero(probabilities)",
           (T_STATISTICS,), "posterior_size resamples in proportion to the weights"),
    # --- checkpoints ----------------------------------------------------------------------------------------
    Mutant("checkpoint-allow-pickle", DRAWS,
           "with np.load(path, allow_pickle=False) as data:\n                metadata = json.loads(str(data[\"metadata\"]))\n                arrays = {key: np.array(data[key]) for key in ARRAYS}",
           "with np.load(path, allow_pickle=True) as data:\n                metadata = json.loads(str(data[\"metadata\"]))\n                arrays = {key: np.array(data[key]) for key in ARRAYS}",
           (T_UNTRUSTED,), "a checkpoint is data: loading one must never unpickle (run) anything"),
    Mutant("checkpoint-not-atomic", DRAWS,
           'with atomic_path(path, suffix=".npz") as temporary:',
           "for temporary in [path]:",
           (T_CHECKPOINT,), "a write that fails midway must leave the previous checkpoint loadable"),
    Mutant("no-periodic-checkpoint", DRIVER,
           "if time.monotonic() - self._last_checkpoint > self.settings.check_point_delta_t:",
           "if False:",
           (T_CHECKPOINT,), "check_point_delta_t promises a checkpoint within a long batch"),
    Mutant("resume-forgets-generator-state", DRIVER,
           "self.rng.bit_generator.state = store.rng_state",
           "pass",
           (T_CHECKPOINT,), "a resumed run must continue the generator, or it redraws the same points"),
    Mutant("checkpoint-identity-ignored", PLUGIN,
           "differing = differing_components(store.fingerprint, fingerprint)",
           "differing = []",
           (T_CHECKPOINT,), "a checkpoint of another analysis must never be resumed"),
    Mutant("fingerprint-without-priors", "bilby_dingo/importance_sampling/fingerprint.py",
           '"priors": _hash(_priors_text(priors)),',
           '"priors": _hash(str(sorted(priors))),',
           (T_CHECKPOINT,), "a checkpoint made under another prior (same keys) must be refused"),
    Mutant("fingerprint-proposal-description", "bilby_dingo/importance_sampling/fingerprint.py",
           'components["proposal"] = _hash(proposal.fingerprint())',
           'components["proposal"] = _hash(proposal.describe())',
           (T_CHECKPOINT,), "a proposal with another mean but the same description must not resume a checkpoint"),
    # --- model files ----------------------------------------------------------------------------------------
    Mutant("model-weights-only-off", "bilby_dingo/network/model_file.py",
           'payload = torch.load(path, map_location="cpu", weights_only=True)',
           'payload = torch.load(path, map_location="cpu", weights_only=False)',
           (T_UNTRUSTED,), "a model file from elsewhere must never run code when loaded"),
    Mutant("prior-class-whitelist-off", "bilby_dingo/prior_strings.py",
           "if name not in PRIOR_CLASSES:",
           "if False:",
           ("tests/unit/test_prior_strings.py", T_UNTRUSTED),
           "only whitelisted bilby prior classes may be built from a model file's strings"),
    Mutant("model-prior-strings-to-bilby-parser", "bilby_dingo/prior_strings.py",
           "parsed[key] = parse_prior_string(text)",
           'parsed[key] = bilby.core.prior.PriorDict(dict(x=text))["x"]',
           (T_UNTRUSTED,), "a model file's prior strings must never reach bilby's parser, which evaluates them"),
    # --- GNPE's extended space --------------------------------------------------------------------------------
    Mutant("gnpe-kernel-normalisation", "bilby_dingo/simulation/time_proxies.py",
           "-self.num_detectors * np.log(2 * self.half_width)",
           "-np.log(2 * self.half_width)",
           (T_GNPE_UNIT,), "the kernel κ must integrate to one per detector, or log Z shifts"),
    Mutant("gnpe-proxy-density-dropped", GNPE,
           "return theta, log_q_proxies + log_q_theta, auxiliary",
           "return theta, log_q_theta, auxiliary",
           (f"{T_GNPE}::test_the_model_file_selects_gnpe_and_the_density_is_exact",),
           "log q(θ, t̂) = log q(t̂) + log q(θ | d, t̂): dropping q(t̂) biases every weight"),
    Mutant("gnpe-time-frame", GNPE,
           "learned[:, self.time_column] -= proxies[:, 0]",
           "learned[:, self.time_column] += proxies[:, 0]",
           (T_GNPE_DENSITY,), "the density at given points must use the network's time frame (refinement needs it)"),
    Mutant("gnpe-proxy-density-dropped-at-given-points", GNPE,
           "return self.proxy_density.log_prob(proxies[row])",
           "return 0.0",
           (T_GNPE_DENSITY,), "q(θ, t̂) at given points (refinement's mixture) must include q(t̂), as the draws do"),
    Mutant("gnpe-images-share-the-wrong-context", NETWORK,
           "                                                                   context[select]).cpu().numpy())",
           "                                                                   context[select].flip(0)).cpu().numpy())",
           ("tests/integration/test_default_model.py::test_network_density_sums_the_ra_images_a_draw_wraps_onto",),
           "each draw's images must be evaluated in that draw's own context (its shifted data and proxies)"),
    Mutant("gnpe-broad-component-weight", PROXY_DENSITY,
           "return np.logaddexp(np.log1p(-self.broad_weight) + core, np.log(self.broad_weight) + broad)",
           "return np.logaddexp(core, np.log(self.broad_weight) + broad)",
           (T_GNPE_UNIT,), "q(t̂) must be a normalised mixture"),
    Mutant("auxiliary-target-dropped", DRAWS,
           "self.log_prior[:n] + self.log_auxiliary[:n]",
           "self.log_prior[:n]",
           (f"{T_GNPE}::test_gnpe_run_stores_proxies_and_kernel_terms",),
           "the extended-space target's term (GNPE's kernel) belongs in every weight"),
    # --- the network proposal ---------------------------------------------------------------------------------
    Mutant("network-auxiliary-density-sign", NETWORK,
           "log_prob = log_prob - np.atleast_1d(self._auxiliary_density.logpdf(values))\n            auxiliary.update",
           "log_prob = log_prob + np.atleast_1d(self._auxiliary_density.logpdf(values))\n            auxiliary.update",
           (T_NETWORK_DENSITY,), "learned-but-not-sampled parameters: the target gains r, folded into q as q / r"),
    Mutant("network-from-prior-density", NETWORK,
           "log_prob = log_prob + self.priors[key].ln_prob(samples[key])",
           "log_prob = log_prob",
           ("tests/integration/test_gw_inference.py::test_unlearned_sampled_parameter_is_drawn_from_the_prior",),
           "a parameter drawn from its prior must bring its prior density into log q"),
    Mutant("sidereal-shift-reversed", NETWORK,
           'samples["ra"] = ra_at_event_time(samples["ra"], self.metadata["reference_time"] + offset,\n'
           '                                             self.event.trigger_time + offset)',
           'samples["ra"] = ra_at_event_time(samples["ra"], self.event.trigger_time + offset,\n'
           '                                             self.metadata["reference_time"] + offset)',
           ("tests/unit/test_simulation.py",), "ra must move by the sidereal time from training to the event"),
    Mutant("batch-sidereal-rate-solar", DETECTOR,
           "SIDEREAL_RATE = (1 + 8640184.812866 / (36525 * 86400)) * 2 * np.pi / 86400  # rad/s",
           "SIDEREAL_RATE = 2 * np.pi / 86400  # rad/s",
           ("tests/unit/test_simulation.py",), "the Earth turns once per sidereal, not solar, day: a training batch's "
           "sky would rotate at the wrong rate"),
    Mutant("batch-sidereal-leap-second-check-dropped", DETECTOR,
           "    linear = np.abs(greenwich_mean_sidereal_time(cells + SIDEREAL_CELL) - at_start\n"
           "                    - SIDEREAL_RATE * SIDEREAL_CELL) <= SIDEREAL_TOLERANCE\n",
           "    linear = np.ones(cells.size, dtype=bool)\n",
           ("tests/unit/test_simulation.py",), "across a leap second bilby's GMST jumps: a linear cell value would "
           "differ from bilby's by a second of rotation"),
    Mutant("network-ra-images-dropped", NETWORK,
           "        for image in (-1, 0, 1):",
           "        for image in (0,):",
           ("tests/integration/test_default_model.py::test_network_density_sums_the_ra_images_a_draw_wraps_onto",),
           "ra is the network's draw modulo 2 pi: the density sums the images that land on one point"),
    # --- refinement and the deterministic mixture ----------------------------------------------------------------
    Mutant("mixture-base-draws-weighed-by-base-only", MIXTURE,
           "base.log_prob = self._log_mixture(base.log_prob, self.density.log_prob(base.samples),\n"
           "                                              base.log_auxiliary_target)",
           "base.log_prob = base.log_prob",
           (f"{T_REFINE_UNIT}::test_mixture_density_matches_its_draws",),
           "every draw is weighed with the whole mixture's density, whichever component drew it"),
    Mutant("mixture-alpha-swapped", MIXTURE,
           "np.logaddexp(np.log(self.alpha) + log_base, np.log1p(-self.alpha) + log_component)",
           "np.logaddexp(np.log1p(-self.alpha) + log_base, np.log(self.alpha) + log_component)",
           (f"{T_REFINE_UNIT}::test_mixture_density_matches_its_draws",),
           "the density must use the weights the draws were made with"),
    Mutant("ensemble-draws-in-equal-shares", FITTED,
           "counts = rng.multinomial(n, self._shares())",
           "counts = rng.multinomial(n, np.full(len(self.members), 1 / len(self.members)))",
           (f"{T_REFINE_UNIT}::test_density_ensemble_with_shares_draws_and_weighs_each_member_by_its_share",),
           "an ensemble with shares (the tempered share) must draw in the shares its density states"),
    Mutant("refinement-reuses-fitted-draws", REFINEMENT,
           "return RefinementOutcome(proposal, None, rounds, frozen_rounds, list(estimates), densities, frozen_estimate,",
           "return RefinementOutcome(proposal, stores[frozen_rounds[-1]], rounds, frozen_rounds, list(estimates), densities,\n"
           "                                 frozen_estimate,",
           ("tests/integration/test_refinement.py::test_refined_result_is_exact_from_the_file_and_reports_its_rounds",),
           "the result must come only from fresh draws of the frozen proposal, not from draws it was fitted to"),
    Mutant("validation-round-pooled-with-one-member", REFINEMENT,
           "log_members = logsumexp([log_components[m] for m in members], axis=0) - np.log(len(members))",
           "log_members = log_components[members[-1]]",
           (f"{T_REFINE_UNIT}::test_a_validation_round_is_pooled_with_its_frozen_proposals_density_and_survives_a_reload",),
           "final draws handed back to refinement were drawn from the whole frozen mixture"),
    Mutant("validation-round-pooled-without-its-tempered-share", REFINEMENT,
           "log_members = self._with_tempered_share(log_members, log_tempered)",
           "log_members = log_members",
           (f"{T_REFINE_UNIT}::test_a_validation_round_is_pooled_with_its_frozen_proposals_density_and_survives_a_reload",),
           "the frozen proposal that drew a validation round had a tempered share; its density must say so"),
    Mutant("tempered-share-fitted-to-a-step-towards-the-pool", REFINEMENT,
           "log_w = TEMPERED_POSTERIOR_BETA * pool.log_target - pool.log_pooled",
           "log_w = TEMPERED_POSTERIOR_BETA * (pool.log_target - pool.log_pooled)",
           (f"{T_REFINE_UNIT}::test_the_frozen_proposals_tempered_share_is_fitted_to_the_posterior_at_temperature_two",),
           "the tempered share must reach where the pooled proposals do not (the ridge ends)"),
    Mutant("undercovering-final-draws-never-handed-back", REFINEMENT,
           "return summarize(store.evaluated_log_weights()).sample_efficiency < outcome.frozen_estimate / UNDERCOVER_FACTOR",
           "return False",
           ("tests/integration/test_refinement.py::test_final_draws_that_undercover_become_refinement_rounds_and_a_resumed_run_agrees",),
           "final draws far less efficient than estimated go back to refinement"),
    Mutant("abandoned-final-run-still-checkpointed", PLUGIN,
           "                self._run = None\n",
           "",
           ("tests/integration/test_refinement.py::test_final_draws_that_undercover_become_refinement_rounds_and_a_resumed_run_agrees",),
           "after a validation round no final run is in progress: a signal must not write its draws back"),
    Mutant("pooled-efficiency-drops-zero-weight-draws", REFINEMENT,
           "- np.log(pool.log_target.size)))",
           "- np.log(usable.sum())))",
           (f"{T_REFINE_UNIT}::test_two_fits_that_each_miss_a_mode_are_frozen_together",),
           "an efficiency counts every draw, those outside the prior too, as a run's does"),
    Mutant("ensemble-density-unnormalised", FITTED,
           "return logsumexp([np.log(share) + member.log_prob(samples)",
           "return logsumexp([member.log_prob(samples)",
           (f"{T_REFINE_UNIT}::test_density_ensemble_is_the_equal_mixture_of_its_members",),
           "the ensemble is the members' average, a normalised density"),
    Mutant("refinement-cost-rule-saving-inverted", REFINEMENT,
           "self.settings.target_n_eff / best * (1 - 1 / gain) < self.settings.refine_draws",
           "self.settings.target_n_eff / best / gain < self.settings.refine_draws",
           (f"{T_REFINE_UNIT}::test_refinement_stops_when_a_round_no_longer_pays",),
           "a further round pays when it saves more final draws than it costs"),
    Mutant("tempering-bisection-inverted", REFINEMENT,
           "low, high = (middle, high) if ess(middle) >= target else (low, middle)",
           "low, high = (low, middle) if ess(middle) >= target else (middle, high)",
           (f"{T_REFINE_UNIT}::test_tempering_exponent_keeps_the_requested_effective_fraction",),
           "β keeps the tempered ESS at the requested fraction"),
    Mutant("refinement-state-identity-ignored", REFINEMENT,
           'raise CheckpointError(\n                f"The refinement state {self.state_path} belongs to another analysis',
           'logger.info(\n                f"The refinement state {self.state_path} belongs to another analysis',
           (f"{T_REFINE_UNIT}::test_resumed_refinement_equals_an_uninterrupted_one",),
           "a refinement state of another analysis must never be resumed"),
    # --- merge -------------------------------------------------------------------------------------------------
    Mutant("merge-thinning-inverted", MERGE,
           "np.exp(np.max(log_w) - overall_max)",
           "np.exp(overall_max - np.max(log_w))",
           (f"{T_RESULTS}::test_merging_rejection_sampled_runs_matches_pooled_rejection_sampling",),
           "the merged posterior is rejection sampling of the pooled draws"),
    Mutant("merge-averages-evidences", MERGE,
           "merged.log_evidence = summary.log_evidence + offsets[0]",
           "merged.log_evidence = float(np.mean([result.log_evidence for result in results]))",
           (f"{T_RESULTS}::test_bilby_dingo_merge_pools_the_draws",),
           "pooled log Z weighs every draw alike (runs of unequal size)"),
    Mutant("merge-any-analyses", MERGE,
           "    _check_same_analysis(results)\n",
           "",
           (f"{T_RESULTS}::test_merge_refuses_runs_of_different_priors",),
           "only runs of one analysis may be pooled"),
    # --- the sky frame of fitted densities ------------------------------------------------------------------
    Mutant("sky-frame-jacobian-sign", SKY_FRAME,
           "log_jacobian = np.log(np.cos(dec)) - np.log(np.sin(zenith))",
           "log_jacobian = np.log(np.sin(zenith)) - np.log(np.cos(dec))",
           (f"{T_SKY}::test_log_jacobian_matches_finite_differences",
            f"{T_SKY}::test_density_in_the_frame_is_normalised_and_survives_storage"),
           "a fitted density in the sky frame must be a normalised density of (ra, dec, t), or log Z is biased"),
    Mutant("sky-frame-jacobian-dropped", FITTED,
           "log_jacobian = log_jacobian + frame_log_jacobian",
           "log_jacobian = log_jacobian + 0 * frame_log_jacobian",
           (f"{T_SKY}::test_density_in_the_frame_is_normalised_and_survives_storage",),
           "the change of variables' Jacobian belongs to the density of the sampled parameters"),
    Mutant("flow-density-ignores-its-drawing-base", FITTED_FLOW,
           "np.log(shares) - 0.5 * squared / scales**2 - dim * np.log(scales)",
           "np.log(shares) - 0.5 * squared",
           (f"{T_REFINE_UNIT}::test_banana_evidence_and_efficiency",),
           "a flow proposal's density must be that of the base its draws come from (widened), or weights are wrong"),
    # --- the screen of training levers ----------------------------------------------------------------------
    Mutant("screen-snr-of-other-signals", EVALUATION,
           "twin = simulator.simulate(chunk, np.random.default_rng([seed, start]), add_noise=False)",
           "twin = simulator.simulate(chunk, np.random.default_rng([seed + 1, start]), add_noise=False)",
           ("tests/integration/test_network_evaluation.py::"
            "test_evaluation_batches_pair_each_noisy_batch_with_the_snr_of_its_own_signals",),
           "each sample's SNR band must be that of its own signal, or the screen compares networks on the wrong bands"),
]
