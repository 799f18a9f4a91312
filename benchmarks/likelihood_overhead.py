"""Cost of the dingo sampler around bilby's likelihood, and the npool speed-up.

Times one likelihood call inside the sampler (the likelihood stage alone, and every stage of the
sampler's run — proposal, prior, likelihood, weights, result — divided by the number of calls) against the bare bilby likelihood on the same parameters, in the same process,
for npool = 1 and 2. Targets (issue 2): overhead ≤ 10%; npool=2 ≥ 1.8× faster than npool=1.

    python benchmarks/likelihood_overhead.py [--num-samples 4000] [--approximant IMRPhenomD]
"""

import argparse
import json
import os
import tempfile
import time

import bilby

TRIGGER_TIME = 1126259462.4


def gw_problem(approximant, duration=4.0, sampling_frequency=2048.0):
    """H1+L1 Gaussian-noise injection and bilby's GravitationalWaveTransient (no marginalisation)."""
    bilby.core.utils.random.seed(0)
    injection = dict(chirp_mass=30.0, mass_ratio=0.8, a_1=0.3, a_2=0.2, tilt_1=0.0, tilt_2=0.0, phi_12=1.0,
                     phi_jl=0.3, luminosity_distance=800.0, theta_jn=0.5, psi=0.1, phase=1.0,
                     geocent_time=TRIGGER_TIME, ra=1.0, dec=0.3)
    generator = bilby.gw.WaveformGenerator(
        duration=duration, sampling_frequency=sampling_frequency,
        frequency_domain_source_model=bilby.gw.source.lal_binary_black_hole,
        parameter_conversion=bilby.gw.conversion.convert_to_lal_binary_black_hole_parameters,
        waveform_arguments=dict(waveform_approximant=approximant, reference_frequency=20.0, minimum_frequency=20.0),
    )
    ifos = bilby.gw.detector.InterferometerList(["H1", "L1"])
    ifos.set_strain_data_from_power_spectral_densities(
        sampling_frequency=sampling_frequency, duration=duration, start_time=TRIGGER_TIME + 2 - duration)
    ifos.inject_signal(waveform_generator=generator, parameters=injection)
    priors = bilby.gw.prior.BBHPriorDict()
    for key, value in injection.items():
        priors[key] = value
    priors["chirp_mass"] = bilby.core.prior.Uniform(25, 35, "chirp_mass")
    priors["mass_ratio"] = bilby.core.prior.Uniform(0.5, 1, "mass_ratio")
    likelihood = bilby.gw.likelihood.GravitationalWaveTransient(ifos, generator, priors=priors)
    return likelihood, priors


def bare_time_per_call(likelihood, parameter_sets, fixed):
    start = time.perf_counter()
    for parameters in parameter_sets:
        likelihood.log_likelihood_ratio({**fixed, **parameters})
    return (time.perf_counter() - start) / len(parameter_sets)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-samples", type=int, default=4000)
    parser.add_argument("--approximant", default="IMRPhenomD")
    parser.add_argument("--output", default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    bilby.core.utils.setup_logger(log_level="WARNING")

    likelihood, priors = gw_problem(args.approximant)
    report = dict(approximant=args.approximant, num_samples=args.num_samples, cpu_count=os.cpu_count())
    with tempfile.TemporaryDirectory() as outdir:
        for npool in (1, 2):
            result = bilby.run_sampler(likelihood, priors, sampler="dingo", num_samples=args.num_samples,
                                       npool=npool, outdir=outdir, label=f"npool{npool}", save=False,
                                       sampling_seed=1, resume=False, soft_init=True)
            meta = result.meta_data["dingo"]
            calls = result.num_likelihood_evaluations
            report[f"npool{npool}"] = dict(
                likelihood_calls=calls,
                likelihood_stage_per_call_s=meta["likelihood_time"] / calls,
                sampler_run_per_call_s=result.sampling_time / calls,  # bilby times Dingo.run_sampler()
                proposal_stage_s=meta["proposal_time"],
            )
        nested = result.nested_samples
        keys = result.search_parameter_keys
        parameter_sets = [dict(zip(keys, row)) for row in nested[keys].to_numpy()]
        fixed = {key: priors[key].peak for key in priors if isinstance(priors[key], bilby.core.prior.DeltaFunction)}
        report["bare_per_call_s"] = bare_time_per_call(likelihood, parameter_sets, fixed)

    bare = report["bare_per_call_s"]
    one, two = report["npool1"], report["npool2"]
    report["overhead_likelihood_stage"] = one["likelihood_stage_per_call_s"] / bare - 1
    report["overhead_sampler_run"] = one["sampler_run_per_call_s"] / bare - 1
    report["speedup_npool2_likelihood_stage"] = one["likelihood_stage_per_call_s"] / two["likelihood_stage_per_call_s"]
    report["speedup_npool2_sampler_run"] = one["sampler_run_per_call_s"] / two["sampler_run_per_call_s"]
    print(f"bare bilby likelihood ratio ({args.approximant}): {1e3 * bare:.3f} ms per call")
    for npool in (1, 2):
        entry = report[f"npool{npool}"]
        print(f"npool={npool}: likelihood stage {1e3 * entry['likelihood_stage_per_call_s']:.3f} ms per call, "
              f"whole sampler run {1e3 * entry['sampler_run_per_call_s']:.3f} ms per call")
    print(f"overhead (npool=1): likelihood stage {100 * report['overhead_likelihood_stage']:+.1f}%, "
          f"whole sampler run {100 * report['overhead_sampler_run']:+.1f}%   [target ≤ 10%]")
    print(f"npool=2 speed-up: likelihood stage {report['speedup_npool2_likelihood_stage']:.2f}×, "
          f"whole sampler run {report['speedup_npool2_sampler_run']:.2f}×   [target ≥ 1.8×]")
    if args.output:
        with open(args.output, "w") as stream:
            json.dump(report, stream, indent=2)


if __name__ == "__main__":
    main()
