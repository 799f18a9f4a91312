"""Quickstart: a binary-black-hole injection analysed with ``sampler="dingo"`` and the default model.

The usual bilby set-up — interferometers with an O4 noise curve, a simulated signal, bilby's
GravitationalWaveTransient with distance and phase marginalisation — and one changed line:
``sampler="dingo"``. Without a ``model`` keyword the sampler uses the default model shipped with
bilby_dingo (H1+L1, 4 s at 512 Hz, 20-256 Hz, IMRPhenomD, chirp mass 20-50 Msun; see
``bilby_dingo/models/default_bbh.ini``). The network proposes, bilby's likelihood and prior weigh:
the printed sample efficiency says how well the network did, the evidence and posterior are exact
up to the stated Monte Carlo error.

    python examples/quickstart.py [--outdir outdir_quickstart] [--npool 2] [--model PATH]
"""

import argparse
import os
import time

import bilby
import numpy as np

import bilby_dingo
from bilby_dingo.models import default_distance_lookup_table

TRIGGER_TIME = 1_400_000_000.0  # a GPS time in O4
INJECTION = dict(chirp_mass=28.0, mass_ratio=0.75, chi_1=0.3, chi_2=-0.2, theta_jn=0.7, psi=1.1, phase=2.0,
                 ra=1.4, dec=-0.5, luminosity_distance=900.0, geocent_time=TRIGGER_TIME + 0.012)


def simulated_data(seed):
    """H1 and L1, 4 s of Gaussian noise at O4 sensitivity (bilby's curve) with the injected signal."""
    duration, sampling_frequency = 4, 512
    generator = bilby.gw.WaveformGenerator(
        duration=duration, sampling_frequency=sampling_frequency,
        frequency_domain_source_model=bilby.gw.source.lal_binary_black_hole,
        parameter_conversion=bilby.gw.conversion.convert_to_lal_binary_black_hole_parameters,
        waveform_arguments=dict(waveform_approximant="IMRPhenomD", reference_frequency=20, minimum_frequency=20))
    ifos = bilby.gw.detector.InterferometerList(["H1", "L1"])
    for ifo in ifos:
        ifo.power_spectral_density = bilby.gw.detector.PowerSpectralDensity.from_amplitude_spectral_density_file(
            "aLIGO_O4_high_asd.txt")
        ifo.minimum_frequency, ifo.maximum_frequency = 20, 256
    bilby.core.utils.random.seed(seed)
    ifos.set_strain_data_from_power_spectral_densities(
        sampling_frequency=sampling_frequency, duration=duration, start_time=TRIGGER_TIME + 2 - duration)
    ifos.inject_signal(waveform_generator=generator, parameters=INJECTION, raise_error=False)
    return ifos, generator


def analysis(lookup_table, model=None):
    """The example's likelihood (distance and phase marginalised) and prior, on the data of :func:`simulated_data`.

    ``lookup_table``: the path of bilby's distance-marginalisation table (``default_distance_lookup_table``).
    """
    ifos, generator = simulated_data(seed=7)
    # The default model's training prior, with the time prior over the trained window (trigger ± 0.1 s).
    priors = bilby_dingo.models.analysis_priors(TRIGGER_TIME, model=model)
    likelihood = bilby.gw.likelihood.GravitationalWaveTransient(
        ifos, generator, priors=priors, distance_marginalization=True, phase_marginalization=True,
        distance_marginalization_lookup_table=lookup_table)
    return likelihood, priors


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outdir", default="outdir_quickstart")
    parser.add_argument("--npool", type=int, default=2, help="likelihood processes")
    parser.add_argument("--model", default=None, help="a model file (default: the model shipped with bilby_dingo)")
    parser.add_argument("--target-n-eff", type=int, default=2000)
    parser.add_argument("--posterior-size", type=int, default=2000,
                        help="posterior rows by systematic resampling of the weighted draws (0: rejection sampling)")
    args = parser.parse_args()
    start = time.perf_counter()

    likelihood, priors = analysis(default_distance_lookup_table(
        os.path.join(args.outdir, "distance_marginalization_lookup.npz")), model=args.model)

    model = dict(model=args.model) if args.model else {}
    result = bilby.run_sampler(
        likelihood, priors, sampler="dingo", **model, target_n_eff=args.target_n_eff, max_samples=200_000,
        posterior_size=args.posterior_size or None,
        npool=args.npool, outdir=args.outdir, label="quickstart", injection_parameters=INJECTION,
        conversion_function=bilby.gw.conversion.generate_all_bbh_parameters, sampling_seed=1, resume=False,
    )
    result.plot_corner(parameters=["chirp_mass", "mass_ratio", "chi_eff", "luminosity_distance", "theta_jn",
                                   "geocent_time"], truths=True)

    dingo = result.meta_data["dingo"]
    print(f"proposal          : {dingo['proposal']}")
    print(f"sample efficiency : {100 * dingo['sample_efficiency']:.2f}%")
    print(f"n_eff             : {dingo['n_eff']:.0f} of {dingo['num_proposals']} draws")
    print(f"log Z             : {result.log_evidence:.3f} ± {result.log_evidence_err:.3f} "
          f"(log Bayes factor signal/noise {result.log_bayes_factor:.2f})")
    rounds = len(dingo["refinement"].get("rounds", {}).get("round", []))
    print(f"likelihood calls  : {result.num_likelihood_evaluations} ({dingo['refinement_likelihood_evaluations']} in "
          f"{rounds} refinement rounds, round 0 included; proposal {dingo['refinement'].get('frozen_rounds')} frozen)")
    distinct = len(result.posterior.drop_duplicates(subset=result.search_parameter_keys))
    print(f"posterior rows    : {len(result.posterior)} ({distinct} distinct; {dingo['unweighting']})")
    for key in ["chirp_mass", "mass_ratio", "chi_eff", "luminosity_distance"]:
        low, median, high = np.percentile(result.posterior[key], [5, 50, 95])
        injected = bilby.gw.conversion.generate_all_bbh_parameters(dict(INJECTION))[key]
        print(f"{key:18s}: {median:8.3f} (90%: {low:.3f} - {high:.3f}); injected {injected:.3f}")
    if dingo["efficiency_warning"]:
        print(f"WARNING: {dingo['efficiency_warning']}")
    print(f"wall time         : {time.perf_counter() - start:.0f} s; outputs in {args.outdir}/")


if __name__ == "__main__":
    main()
