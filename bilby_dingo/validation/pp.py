"""P-P test of a model: many injections drawn from its training prior, analysed with one loaded model.

For each injection the network's own draws (the proposal alone) and the importance-sampled posterior
give the credible level of the true value per parameter; both sets become P-P plots (as bilby's
``make_pp_plot``) with per-parameter KS p-values and the combined p-value. Every injection is recorded
as it finishes, so a stopped run resumes where it stopped.

Parameters the model did not learn are fixed at their injected values, so the analysis samples
exactly the learned parameters — or, with ``marginalise``, left to bilby's distance and/or phase
marginalisation over their training prior (how a model that does not learn them is used). The
training prior is rebuilt from the model's prior strings by ``bilby_dingo.prior_strings`` (bilby prior
classes with literal arguments only: no code from the file runs); use ``prior_file`` for a model whose
stored prior uses other classes.
"""

import argparse
import json
import logging
import os
import time
from dataclasses import dataclass, field

import bilby
import numpy as np
import pandas as pd

from ..models import default_distance_lookup_table, training_priors
from ..network.model_file import ModelFileError, load_model
from ..plugin import discard_run_files
from ..prior_strings import PriorStringError
from ..proposals.factory import network_proposal
from ..proposals.gnpe import GIBBS_CHAINS, GIBBS_ITERATIONS, GUIDE_DRAWS
from ..simulation.detector import ra_at_event_time
from ..simulation.waveforms import WaveformSettings
from ..utils import atomic_path, bilby_generator

logger = logging.getLogger(f"bilby.{__name__}")


MARGINALISABLE = {"distance": "luminosity_distance", "phase": "phase"}


def simulate_event(metadata, priors, rng, trigger_time, psd_entry, marginalise=(), lookup_table=None):
    """(likelihood, analysis priors, injection) of one Gaussian-noise injection drawn from the prior.

    ``marginalise``: any of "distance", "phase": bilby's likelihood marginalises them over the training
    prior; ``lookup_table``: the distance-marginalisation table file (bilby builds and caches it once).
    """
    from ..simulation.noise import load_psd

    settings = WaveformSettings.from_mapping(metadata)
    with bilby_generator(rng):
        injection = {key: float(value) for key, value in priors.sample().items()}
        offset = rng.uniform(-metadata["deltaT"] / 2, metadata["deltaT"] / 2)
        injection["geocent_time"] = trigger_time + offset
        # Same hour angle as in training (matters where the training prior fixes ra).
        injection["ra"] = float(ra_at_event_time(injection["ra"], metadata["reference_time"] + offset,
                                                 injection["geocent_time"]))
        generator = settings.waveform_generator()
        ifos = bilby.gw.detector.InterferometerList(metadata["detectors"])
        frequencies = settings.full_frequencies()
        band = settings.band_mask()
        psd = np.full(frequencies.shape, np.inf)
        psd[band] = load_psd(psd_entry, frequencies[band])
        for ifo in ifos:
            ifo.minimum_frequency, ifo.maximum_frequency = metadata["minimum_frequency"], metadata["maximum_frequency"]
            ifo.power_spectral_density = bilby.gw.detector.PowerSpectralDensity(
                frequency_array=frequencies[band], psd_array=psd[band])
        ifos.set_strain_data_from_power_spectral_densities(
            sampling_frequency=metadata["sampling_frequency"], duration=metadata["duration"],
            start_time=trigger_time + metadata["post_trigger_duration"] - metadata["duration"])
        ifos.inject_signal(waveform_generator=generator, parameters=injection, raise_error=False)
    analysis = bilby.gw.prior.BBHPriorDict()
    analysis.clear()
    for key, value in injection.items():
        analysis[key] = value
    for key in metadata["inference_parameters"]:
        if key == "geocent_time":
            analysis[key] = bilby.core.prior.Uniform(trigger_time - metadata["deltaT"] / 2,
                                                     trigger_time + metadata["deltaT"] / 2, key)
        else:
            analysis[key] = priors[key]
    unknown = [name for name in marginalise if name not in MARGINALISABLE]
    if unknown:
        raise ValueError(f"Cannot marginalise {unknown}: choose from {sorted(MARGINALISABLE)}.")
    for name in marginalise:
        analysis[MARGINALISABLE[name]] = priors[MARGINALISABLE[name]]
    likelihood = bilby.gw.likelihood.GravitationalWaveTransient(
        ifos, generator, priors=analysis, distance_marginalization="distance" in marginalise,
        phase_marginalization="phase" in marginalise, distance_marginalization_lookup_table=lookup_table)
    return likelihood, analysis, injection


def simulate_event_in_snr_band(metadata, priors, index, seed, snr_range, marginalise=(), lookup_table=None,
                               max_tries=2000):
    """Injection ``index`` of a survey: drawn from the prior until its network optimal SNR lies in ``snr_range``.

    Seeded by (``seed``, ``index``); the PSD cycles through the model's family with the index and the
    trigger moves by a day per index, so surveys of other models or settings analyse the same injections.
    Returns (likelihood, analysis priors, injection, PSD entry, network optimal SNR).
    """
    rng = np.random.default_rng([seed, index])
    entries = metadata["psd_family"]["entries"]
    psd_entry = entries[index % len(entries)]
    trigger_time = metadata["reference_time"] + 86400.0 * index
    for _ in range(max_tries):
        likelihood, analysis, injection = simulate_event(metadata, priors, rng, trigger_time, psd_entry, marginalise,
                                                         lookup_table=lookup_table)
        snr = network_optimal_snr(likelihood)
        if snr_range[0] <= snr <= snr_range[1]:
            return likelihood, analysis, injection, psd_entry, snr
    raise ValueError(f"No injection of {max_tries} drawn from the prior has a network SNR in [{snr_range[0]:g}, "
                     f"{snr_range[1]:g}] with {psd_entry}: widen the SNR range or raise max_tries.")


def network_optimal_snr(likelihood):
    """The injection's optimal SNR over the likelihood's detectors (bilby's per-detector values, combined)."""
    return float(np.sqrt(sum(abs(ifo.meta_data["optimal_SNR"]) ** 2 for ifo in likelihood.interferometers)))


def pp_plot(credible_levels, filename, labels=None):
    """P-P plot drawn from credible levels (one row per injection, one column per parameter).

    As bilby's ``make_pp_plot`` (binomial 68/95/99.7% bands, a KS p-value per parameter against the
    uniform distribution, Fisher's combined p-value), but from stored levels, so that a resumed run
    needs no posteriors of the injections analysed before. Returns (combined p-value, {key: p-value}).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import stats

    levels = pd.DataFrame(credible_levels)
    count = len(levels)
    grid = np.linspace(0, 1, 1001)
    figure, axes = plt.subplots()
    for interval in [0.68, 0.95, 0.997]:
        tail = (1 - interval) / 2
        lower, upper = stats.binom.ppf(tail, count, grid) / count, stats.binom.ppf(1 - tail, count, grid) / count
        lower[0] = upper[0] = 0
        axes.fill_between(grid, lower, upper, alpha=0.1, color="k")
    pvalues = {}
    styles = [f"{style}C{colour}" for style in ["-", "--", ":"] for colour in range(8)]
    for key, style in zip(levels, styles):
        values = levels[key].to_numpy(dtype=float)
        pvalues[key] = float(stats.kstest(values, "uniform").pvalue)
        fraction = (values[None, :] < grid[:, None]).mean(axis=1)
        axes.plot(grid, fraction, style, label=f"{(labels or {}).get(key, key)} ({pvalues[key]:.3f})")
    combined = float(stats.combine_pvalues(list(pvalues.values()))[1])
    axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="C.I.", ylabel="Fraction of events in C.I.",
             title=f"N={count}, p-value={combined:.4f}")
    axes.legend(handlelength=2, labelspacing=0.25, fontsize="x-small")
    figure.tight_layout()
    figure.savefig(filename, dpi=200)
    plt.close(figure)
    return combined, pvalues


def _write_json(path, content):
    """Atomically (``atomic_path``): a run stopped mid-write leaves the previous file, never half of one."""
    with atomic_path(path, suffix=".json") as temporary, open(temporary, "w") as stream:
        json.dump(content, stream, indent=1)


@dataclass(frozen=True)
class InjectionSettings:
    """How every injection of a P-P run is analysed: the same for all of them.

    Named fields instead of a long positional list: several are integers that could be swapped silently.
    """

    num_samples: int = 10_000
    target_n_eff: int = None
    max_samples: int = 200_000
    seed: int = 0
    npool: int = 1
    device: str = "cpu"
    marginalise: tuple = ()
    proposal_kwargs: dict = field(default_factory=dict)
    sampler_kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RunContext:
    """What every injection of one P-P run shares, loaded once: the model, its priors, the lookup table."""

    model_path: str
    loaded: tuple  # (model, metadata) from load_model
    priors: bilby.core.prior.PriorDict
    keys: list
    trigger_time: float
    lookup_table: str
    outdir: str


def run_pp(model_path, num_injections, outdir, *, num_samples=10_000, seed=0, prior_file=None, npool=1,
           device="cpu", trigger_time=None, marginalise=(), target_n_eff=None, max_samples=200_000,
           proposal_kwargs=None, resume=True, sampler_kwargs=None, first_injection=0, last_injection=None,
           recorded_only=False):
    """Analyse ``num_injections`` injections; write P-P plots and a JSON summary to ``outdir``.

    ``num_samples`` proposal draws per injection, or, with ``target_n_eff``, draws until n_eff reaches
    it (at most ``max_samples``). ``proposal_kwargs`` go to the network proposal (e.g. ``gnpe_chains``),
    ``sampler_kwargs`` to the dingo sampler (e.g. ``refine=False``, ``refine_draws``).
    Each finished injection is recorded in ``outdir/injections/`` (its table row, credible levels and
    the random state after it); with ``resume`` a rerun with the same settings skips the recorded ones
    and gives the same injections and numbers as an uninterrupted run.

    ``first_injection`` and ``last_injection`` (inclusive; default the last) restrict the analysis to a share
    of one run, so that several processes or machines can analyse disjoint shares into the same ``outdir``
    (e.g. 0–49 and 50–99: without ``last_injection`` the share from 0 would go on into the other's
    injections and analyse them a second time). The injections are one random stream, so a share first
    replays the cheap, stream-consuming part of each earlier injection that has no record (simulation and
    the network's own draws: seconds, no importance sampling) to reach the same random state. A share
    writes records only; a run over all injections (every one recorded) writes the plots and the summary.

    ``recorded_only``: analyse nothing; plots and summary over the injections recorded so far (a run still
    going, or one stopped), which the summary lists (``injections_summarised``).
    """
    last_injection = num_injections - 1 if last_injection is None else last_injection
    if not 0 <= first_injection <= last_injection < num_injections:
        raise ValueError(f"first_injection={first_injection} and last_injection={last_injection} must satisfy "
                         f"0 <= first_injection <= last_injection < num_injections={num_injections}.")
    is_share = first_injection > 0 or last_injection < num_injections - 1
    os.makedirs(os.path.join(outdir, "injections"), exist_ok=True)
    loaded = load_model(model_path, device=device)
    metadata = loaded[1]
    trigger_time = metadata["reference_time"] if trigger_time is None else trigger_time
    priors = training_priors(metadata, prior_file)
    keys = list(metadata["inference_parameters"])
    rng = np.random.default_rng(seed)
    settings = dict(model=os.path.abspath(model_path), num_samples=num_samples, target_n_eff=target_n_eff,
                    max_samples=max_samples if target_n_eff else None, seed=seed, prior_file=prior_file,
                    trigger_time=trigger_time, marginalised=list(marginalise),
                    proposal_kwargs=dict(proposal_kwargs or {}))
    if sampler_kwargs:  # recorded only when given: records of runs without them still resume
        settings["sampler_kwargs"] = dict(sampler_kwargs)
    # bilby checks the shipped table against the distance prior and rebuilds it in outdir if it differs.
    lookup_table = default_distance_lookup_table(os.path.join(outdir, "distance_marginalization_lookup.npz"))
    context = RunContext(model_path, loaded, priors, keys, trigger_time, lookup_table, outdir)
    analysis = InjectionSettings(num_samples=num_samples, target_n_eff=target_n_eff, max_samples=max_samples,
                                 seed=seed, npool=npool, device=device, marginalise=tuple(marginalise),
                                 proposal_kwargs=dict(proposal_kwargs or {}),
                                 sampler_kwargs=dict(sampler_kwargs or {}))
    records, resumed = [], 0
    for index in range(num_injections if recorded_only else last_injection + 1):
        record_path = os.path.join(outdir, "injections", f"injection_{index}.json")
        # Read afresh each time: a share running beside this run may have recorded it meanwhile.
        if resume and os.path.exists(record_path):
            with open(record_path) as stream:
                record = json.load(stream)
            if record["settings"] != settings:
                raise ValueError(f"{record_path} was made with other settings ({record['settings']}) than this "
                                 f"run ({settings}): use another outdir, or resume=False (--no-resume) to start "
                                 "again.")
            rng.bit_generator.state = record["random_state_after"]
            records.append(record)
            resumed += 1
            continue
        if recorded_only:
            continue
        if index < first_injection:
            _simulate_injection(index, rng, settings=analysis, context=context)  # only to advance rng
            continue
        records.append(_analyse_injection(index, rng, settings=analysis, context=context))
        records[-1]["settings"] = settings
        _write_json(record_path, records[-1])
    if resumed:
        logger.info(f"Resumed: {resumed} of {num_injections} injections were analysed before.")
    if is_share and not recorded_only:
        logger.info(f"Injections {first_injection} to {last_injection} are recorded in {outdir}/injections; run "
                    "again without first_injection and last_injection (--first-injection, --last-injection) once "
                    "all are recorded for the P-P plots and summary.")
        return None
    if len(records) < 2:
        raise ValueError(f"{len(records)} injection(s) recorded in {outdir}/injections: a P-P plot needs at least 2.")
    labels = {key: getattr(priors.get(key), "latex_label", key) for key in keys}
    network_pvalue, network_pvalues = pp_plot([record["network_levels"] for record in records],
                                              os.path.join(outdir, "pp_network.png"), labels)
    is_pvalue, is_pvalues = pp_plot([record["importance_sampled_levels"] for record in records],
                                    os.path.join(outdir, "pp_importance_sampled.png"), labels)
    table = pd.DataFrame([record["row"] for record in records])
    efficiencies, n_eff = table["sample_efficiency"].to_numpy(), table["n_eff"].to_numpy()
    summary = dict(
        settings, num_injections=num_injections, model=model_path,
        network_combined_pvalue=network_pvalue, network_pvalues=network_pvalues,
        importance_sampled_combined_pvalue=is_pvalue, importance_sampled_pvalues=is_pvalues,
        sample_efficiency_median=float(np.median(efficiencies)),
        sample_efficiency_10th_percentile=float(np.percentile(efficiencies, 10)),
        sample_efficiency_worst=float(np.min(efficiencies)),
        n_eff_median=float(np.median(n_eff)), n_eff_10th_percentile=float(np.percentile(n_eff, 10)),
        n_eff_worst=float(np.min(n_eff)),
        fraction_reaching_target_n_eff=float(np.mean(n_eff >= target_n_eff)) if target_n_eff else None,
        wall_time_s=float(table["wall_time_s"].sum()), resumed_injections=resumed,
    )
    if recorded_only:
        summary.update(num_injections=len(records), num_injections_planned=num_injections,
                       injections_summarised=[int(record["row"]["injection"]) for record in records])
    table.to_csv(os.path.join(outdir, "pp_injections.csv"), index=False)
    _write_json(os.path.join(outdir, "pp_summary.json"), summary)
    return summary


@dataclass(frozen=True)
class SimulatedInjection:
    """One injection up to the network's own draws: everything that consumes the run's random stream."""

    likelihood: bilby.gw.likelihood.GravitationalWaveTransient
    analysis: bilby.core.prior.PriorDict
    injection: dict
    psd_entry: str
    sampled: list
    proposal: object
    network: bilby.core.result.Result
    start: float  # perf_counter before the proposal's set-up (GNPE's Gibbs chains), which counts in wall time


def _simulate_injection(index, rng, *, settings, context):
    """Injection ``index`` drawn from ``rng``, its proposal built and the network's own draws made.

    ``rng`` draws the injection and the network's draws, and nothing after this uses it: the random state
    after this is the state after the whole injection (what a share of a run replays,
    :func:`run_pp`'s ``first_injection``).
    """
    metadata = context.loaded[1]
    psd_entry = metadata["psd_family"]["entries"][rng.integers(len(metadata["psd_family"]["entries"]))]
    likelihood, analysis, injection = simulate_event(
        metadata, context.priors, rng, context.trigger_time, psd_entry, settings.marginalise,
        lookup_table=context.lookup_table)
    start = time.perf_counter()
    # Learned parameters bilby marginalises are fixed by it: they are not sampled, nor P-P tested.
    sampled = [key for key in context.keys if isinstance(analysis[key], bilby.core.prior.Prior)
               and not analysis[key].is_fixed]
    proposal = network_proposal(context.model_path, likelihood, analysis, sampled, device=settings.device,
                                loaded_model=context.loaded, seed=settings.seed + index, **settings.proposal_kwargs)
    draws = proposal.sample_and_log_prob(min(settings.num_samples, 5000), rng)[0]
    network = bilby.core.result.Result(posterior=pd.DataFrame(draws), injection_parameters=injection,
                                       search_parameter_keys=sampled, priors=analysis)
    return SimulatedInjection(likelihood, analysis, injection, psd_entry, sampled, proposal, network, start)


def _analyse_injection(index, rng, *, settings, context):
    """One injection: the network's draws and the importance-sampled posterior -> credible levels, table row.

    ``rng`` draws the injection and the network's draws; ``settings`` (:class:`InjectionSettings`) and
    ``context`` (:class:`RunContext`) are the same for every injection of the run.
    """
    seed, target_n_eff, num_samples = settings.seed, settings.target_n_eff, settings.num_samples
    simulated = _simulate_injection(index, rng, settings=settings, context=context)
    likelihood, analysis, injection = simulated.likelihood, simulated.analysis, simulated.injection
    psd_entry, sampled, proposal, network = (simulated.psd_entry, simulated.sampled, simulated.proposal,
                                             simulated.network)
    start = simulated.start
    amount = dict(target_n_eff=target_n_eff, max_samples=settings.max_samples) if target_n_eff else dict(
        num_samples=num_samples)
    result = bilby.run_sampler(likelihood, analysis, sampler="dingo", proposal=proposal, **amount,
                               outdir=context.outdir, label=f"injection_{index}", save=False, resume=False,
                               sampling_seed=seed + index, npool=settings.npool, diagnostic_plots=False,
                               soft_init=True, **settings.sampler_kwargs)
    discard_run_files(result)  # resume=False above: the run's checkpoint and refinement files serve nothing now
    result.injection_parameters = injection
    meta = result.meta_data["dingo"]
    optimal_snr = network_optimal_snr(likelihood)
    row = dict(injection=index, psd=psd_entry, network_optimal_snr=optimal_snr,
               sample_efficiency=float(meta["sample_efficiency"]), n_eff=float(meta["n_eff"]),
               num_proposals=int(meta["num_proposals"]), likelihood_calls=int(result.num_likelihood_evaluations),
               log_evidence=float(result.log_evidence), log_evidence_err=float(result.log_evidence_err),
               wall_time_s=time.perf_counter() - start, **{f"injected_{key}": injection[key] for key in injection})
    logger.info(f"injection {index + 1}: network SNR {optimal_snr:.1f}, efficiency "
                f"{100 * meta['sample_efficiency']:.2f}%, n_eff {meta['n_eff']:.0f} of {meta['num_proposals']} draws")
    levels = [{key: float(value) for key, value in outcome.get_all_injection_credible_levels(sampled).items()}
              for outcome in (network, result)]
    return dict(row=row, network_levels=levels[0], importance_sampled_levels=levels[1],
                random_state_after=rng.bit_generator.state)


def build_parser():
    """The command line of ``bilby_dingo_pp``."""
    from .._version import __version__

    parser = argparse.ArgumentParser(prog="bilby_dingo_pp", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="the model file")
    parser.add_argument("--num-injections", type=int, default=100, help="injections drawn from the training prior "
                        "(at least 2; default 100)")
    parser.add_argument("--num-samples", type=int, default=10_000, help="proposal draws per injection")
    parser.add_argument("--target-n-eff", type=int, default=None,
                        help="instead of --num-samples: draw until n_eff reaches this (at most --max-samples)")
    parser.add_argument("--max-samples", type=int, default=200_000,
                        help="with --target-n-eff: most draws per injection (default 200000)")
    parser.add_argument("--gnpe-chains", type=int, default=GIBBS_CHAINS, help="GNPE models: Gibbs chains")
    parser.add_argument("--gnpe-iterations", type=int, default=GIBBS_ITERATIONS, help="GNPE models: Gibbs iterations")
    parser.add_argument("--gnpe-guide-draws", type=int, default=GUIDE_DRAWS,
                        help="GNPE models: candidates for the likelihood-guided chain start (0: none)")
    parser.add_argument("--outdir", default="outdir_pp", help="output directory: P-P plots, table, summary, and the "
                        "per-injection records a rerun resumes from (default outdir_pp)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the injections and of every analysis (default 0)")
    parser.add_argument("--prior-file", default=None, help="training prior file (default: the model's own)")
    parser.add_argument("--npool", type=int, default=1, help="likelihood processes per analysis (default 1)")
    parser.add_argument("--device", default="cpu", help="where the network runs: cpu, cuda or auto (default cpu)")
    parser.add_argument("--first-injection", type=int, default=0,
                        help="analyse only injections FIRST ... LAST (--last-injection, default NUM_INJECTIONS-1), beside "
                             "another share into the same OUTDIR (a second process); records only, a run over all then "
                             "writes the summary")
    parser.add_argument("--last-injection", type=int, default=None,
                        help="stop after injection LAST (inclusive; default the last): with --first-injection, one "
                             "share of a run split between processes, e.g. 0-49 and 50-99 (records only)")
    parser.add_argument("--recorded-only", action="store_true",
                        help="analyse nothing: P-P plots and summary over the injections recorded in OUTDIR so far")
    parser.add_argument("--no-resume", action="store_true",
                        help="analyse every injection again instead of continuing after those recorded in OUTDIR")
    parser.add_argument("--no-refine", action="store_true",
                        help="importance-sample the network's own draws (refine=False): the P-P test of the network "
                             "and of unrefined importance sampling, at a fraction of the likelihood calls")
    parser.add_argument("--marginalise", nargs="*", default=[], choices=sorted(MARGINALISABLE),
                        help="leave these to bilby's likelihood marginalisation (over the training prior) instead of "
                             "fixing them at the injected values")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.num_injections < 2 or args.num_samples < 1:
        parser.error("--num-injections must be at least 2 and --num-samples positive.")
    last = args.num_injections - 1 if args.last_injection is None else args.last_injection
    if not 0 <= args.first_injection <= last < args.num_injections:
        given = "" if args.last_injection is not None else " (its default: --num-injections - 1)"
        parser.error(f"--first-injection {args.first_injection} and --last-injection {last}{given} must satisfy "
                     f"0 <= FIRST <= LAST < --num-injections {args.num_injections}: a share is the injections "
                     "FIRST to LAST of the run; choose them within it.")
    if args.target_n_eff is not None and args.target_n_eff < 1:
        parser.error("--target-n-eff must be positive (leave it out to draw --num-samples per injection).")
    if not os.path.isfile(args.model):
        parser.exit(2, f"bilby_dingo_pp: error: model file {args.model} does not exist.\n")
    if args.prior_file is not None and not os.path.isfile(args.prior_file):
        parser.exit(2, f"bilby_dingo_pp: error: --prior-file {args.prior_file} does not exist.\n")
    bilby.core.utils.setup_logger(log_level="INFO")
    try:
        summary = run_pp(args.model, args.num_injections, args.outdir, num_samples=args.num_samples, seed=args.seed,
                         prior_file=args.prior_file, npool=args.npool, device=args.device,
                         marginalise=args.marginalise, target_n_eff=args.target_n_eff,
                         max_samples=args.max_samples,
                         proposal_kwargs=dict(gnpe_chains=args.gnpe_chains, gnpe_iterations=args.gnpe_iterations,
                                              gnpe_guide_draws=args.gnpe_guide_draws),
                         resume=not args.no_resume, sampler_kwargs=dict(refine=False) if args.no_refine else None,
                         first_injection=args.first_injection, last_injection=args.last_injection,
                         recorded_only=args.recorded_only)
    except (ModelFileError, PriorStringError) as error:
        parser.exit(2, f"bilby_dingo_pp: error: {error}\n")
    if summary is not None:
        print(json.dumps(summary, indent=2))
    return 0
