"""A real event: GWOSC strain analysed with ``sampler="dingo"`` and the default model.

    python examples/real_event.py DATA [DATA ...] --trigger-time GPS [--outdir DIR] [--npool 2] [--model PATH]

DATA are GWOSC HDF5 strain files (one per detector) or folders holding them; for GW170104:

    OMP_NUM_THREADS=1 python examples/real_event.py ../shared/gwosc --trigger-time 1167559936.6

(one torch thread: on a shared 2-core machine two threads per process made the GNPE set-up 4-9 minutes
instead of under one; docs/validation.md, "Real data: GW170104", has this run's numbers).

The data are conditioned as bilby_pipe does (:mod:`bilby_dingo.data.gwosc`): the model's segment (4 s at
512 Hz for the default model, ending 2 s after the trigger) cropped and resampled, a Tukey window of
0.4 s roll-off, a PSD by median Welch over the off-source data before and after the segment. The
analysis is the default model's: its training prior with the time prior ±0.1 s around the trigger,
IMRPhenomD, bilby's GravitationalWaveTransient with distance and phase marginalisation. The script prints
the sample efficiency, n_eff, likelihood calls and wall time, and source-frame medians with 90% intervals
from the importance-weighted draws.

Getting the data. GWOSC serves them (https://gwosc.org: per event, HDF5 files of 32 s or 4096 s at
4 or 16 kHz, read as they are). Where a network is available, gwpy fetches them:

    import os
    from gwpy.timeseries import TimeSeries
    os.makedirs("GW170104_data", exist_ok=True)
    for detector in ["H1", "L1"]:
        data = TimeSeries.fetch_open_data(detector, 1167559920, 1167559952)  # 32 s around GW170104
        data.write(f"GW170104_data/{detector}.hdf5", format="hdf5")

then ``python examples/real_event.py GW170104_data --trigger-time 1167559936.6``. The data must cover
the segment and at least one PSD segment (4 s) of off-source data; longer data give a better PSD.

A detector-frame chirp mass below 20 M☉ is outside the default model's scope. The sampler refuses a prior
below it and flags a posterior piled up against 20 (GW151012), but the data alone do not always show it
(GW151226 with the default prior gives a broad, unflagged posterior): know the event's mass range.
``examples/train_low_mass.ini`` shows how to train a model for lighter binaries.
"""

import argparse
import os
import time

import bilby
import numpy as np

import bilby_dingo
from bilby_dingo.data import DataSettings, gwosc_interferometers
from bilby_dingo.models import analysis_priors, default_distance_lookup_table
from bilby_dingo.network.model_file import read_model_file

SUMMARY = [("chirp_mass_source", "chirp mass (source, M☉)"), ("mass_1_source", "m1 (source, M☉)"),
           ("mass_2_source", "m2 (source, M☉)"), ("mass_ratio", "mass ratio q"), ("chi_eff", "chi_eff"),
           ("luminosity_distance", "d_L (Mpc)"), ("redshift", "redshift z")]


def analysis(data, trigger_time, model_path, outdir, psd_off_source="both"):
    """(likelihood, priors, interferometers) for the event, with the model's data settings."""
    metadata = read_model_file(model_path)["metadata"]
    settings = DataSettings.from_model_metadata(metadata, psd_off_source=psd_off_source)
    interferometers = gwosc_interferometers(data, trigger_time, settings, detectors=list(metadata["detectors"]))
    generator = bilby.gw.WaveformGenerator(
        duration=settings.duration, sampling_frequency=settings.sampling_frequency,
        frequency_domain_source_model=bilby.gw.source.lal_binary_black_hole,
        parameter_conversion=bilby.gw.conversion.convert_to_lal_binary_black_hole_parameters,
        waveform_arguments=dict(waveform_approximant=metadata["waveform_approximant"],
                                reference_frequency=metadata["reference_frequency"],
                                minimum_frequency=settings.minimum_frequency))
    priors = analysis_priors(trigger_time, model=model_path)
    likelihood = bilby.gw.likelihood.GravitationalWaveTransient(
        interferometers, generator, priors=priors, distance_marginalization=True, phase_marginalization=True,
        distance_marginalization_lookup_table=default_distance_lookup_table(
            os.path.join(outdir, "distance_marginalization_lookup.npz")))
    return likelihood, priors, interferometers


def weighted_posterior(result, likelihood, priors, num_resamples=4000, seed=1):
    """The weighted posterior through bilby's conversion (which draws the marginalised distance and phase).

    ``num_resamples`` multinomial draws from the importance-weighted draws (probability ∝ weight): the
    distinct draws among them, weighted by their counts, represent the weighted posterior (its 90%
    intervals rest on all of n_eff, where ``result.posterior``, by rejection sampling, keeps about a tenth
    of it), and bilby converts only those. Returns (converted DataFrame, weights summing to one).
    """
    weights = result.nested_samples["weights"].to_numpy()
    picks = np.random.default_rng(seed).choice(len(weights), size=num_resamples, p=weights / weights.sum())
    unique, counts = np.unique(picks, return_counts=True)
    samples = result.nested_samples.iloc[unique][result.search_parameter_keys].reset_index(drop=True)
    converted = bilby.gw.conversion.generate_all_bbh_parameters(samples, likelihood=likelihood, priors=priors.copy())
    return converted, counts / num_resamples


def weighted_percentiles(values, weights, percentiles):
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order]) - 0.5 * weights[order]
    return np.interp(np.asarray(percentiles) / 100, cumulative, np.asarray(values)[order])


def summary_lines(posterior, weights=None):
    weights = np.full(len(posterior), 1.0 / len(posterior)) if weights is None else weights
    lines = []
    for key, label in SUMMARY:
        if key in posterior:
            low, median, high = weighted_percentiles(posterior[key].to_numpy(), weights, [5, 50, 95])
            lines.append(f"{label:26s}: {median:9.3f}  +{high - median:.3f} -{median - low:.3f}  "
                         f"(90%: {low:.3f} - {high:.3f})")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", nargs="+", help="GWOSC HDF5 strain files or folders holding them")
    parser.add_argument("--trigger-time", type=float, required=True, help="GPS time of the event")
    parser.add_argument("--outdir", default="outdir_real_event")
    parser.add_argument("--label", default=None, help="default: GPS time of the trigger")
    parser.add_argument("--npool", type=int, default=2, help="likelihood processes")
    parser.add_argument("--model", default=None, help="a model file (default: the model shipped with bilby_dingo)")
    parser.add_argument("--target-n-eff", type=int, default=2000)
    parser.add_argument("--max-samples", type=int, default=200_000)
    parser.add_argument("--psd-off-source", choices=["both", "before"], default="both",
                        help="off-source data for the PSD: before and after the segment, or before only (bilby_pipe)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = time.perf_counter()
    model_path = args.model or bilby_dingo.default_model()
    label = args.label or f"event_{args.trigger_time:.1f}".replace(".", "_")

    likelihood, priors, interferometers = analysis(args.data, args.trigger_time, model_path, args.outdir,
                                                   args.psd_off_source)
    # As the likelihood left them (distance and phase fixed for its marginalisations), for the weighted
    # summary: bilby's conversion restores the marginalised priors in the dict it is given.
    conversion_priors = priors.copy()
    model = dict(model=args.model) if args.model else {}
    result = bilby.run_sampler(
        likelihood, priors, sampler="dingo", **model, target_n_eff=args.target_n_eff, max_samples=args.max_samples,
        npool=args.npool, outdir=args.outdir, label=label, sampling_seed=args.seed, resume=False,
        conversion_function=bilby.gw.conversion.generate_all_bbh_parameters,
    )
    result.plot_corner(parameters=["chirp_mass", "mass_ratio", "chi_eff", "luminosity_distance", "theta_jn",
                                   "geocent_time"])
    elapsed = time.perf_counter() - start
    weighted, weights = weighted_posterior(result, likelihood, conversion_priors)

    dingo = result.meta_data["dingo"]
    print(f"data              : {', '.join(ifo.name for ifo in interferometers)}, segment "
          f"{interferometers.start_time:.4f} + {interferometers.duration:g} s")
    print(f"proposal          : {dingo['proposal']}")
    print(f"sample efficiency : {100 * dingo['sample_efficiency']:.3f}%")
    print(f"n_eff             : {dingo['n_eff']:.0f} of {dingo['num_proposals']} draws")
    print(f"log Z             : {result.log_evidence:.3f} ± {result.log_evidence_err:.3f} "
          f"(log Bayes factor signal/noise {result.log_bayes_factor:.2f})")
    print(f"likelihood calls  : {result.num_likelihood_evaluations}")
    print(f"posterior samples : {len(result.posterior)} (rejection sampling; in the result file)")
    print(f"medians and 90% intervals of the weighted posterior (n_eff {dingo['n_eff']:.0f}), from 4000 draws "
          f"resampled by weight ({len(weights)} distinct; distance and phase drawn by bilby's conversion):")
    for line in summary_lines(weighted, weights):
        print(line)
    for key in ("efficiency_warning", "scope_warning"):
        if dingo.get(key):
            print(f"WARNING: {dingo[key]}")
    print(f"wall time         : {elapsed:.0f} s (sampler and conversion; the weighted summary after it "
          f"{time.perf_counter() - start - elapsed:.0f} s); outputs in {args.outdir}/")


if __name__ == "__main__":
    main()
