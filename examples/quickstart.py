"""Quickstart: importance sampling with the dingo bilby sampler.

bilby's linear-regression example, analysed with ``sampler="dingo"``: a proposal distribution
(here a Student-t built from the least-squares fit, until a trained network is available) is
importance-sampled with bilby's own likelihood and prior. The result is a standard bilby.Result.

    python examples/quickstart.py [--outdir outdir_quickstart]
"""

import argparse

import bilby
import numpy as np

from bilby_dingo import MultivariateStudentTProposal


def model(x, m, c):
    return m * x + c


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outdir", default="outdir_quickstart")
    args = parser.parse_args()

    # Simulated data: a straight line with Gaussian noise of known sigma.
    rng = np.random.default_rng(42)
    x = np.linspace(0, 10, 100)
    sigma = 1.0
    injection = dict(m=0.9, c=0.2)
    y = model(x, **injection) + rng.normal(0, sigma, x.size)

    likelihood = bilby.core.likelihood.GaussianLikelihood(x, y, model, sigma)
    priors = bilby.core.prior.PriorDict(dict(m=bilby.core.prior.Uniform(0, 5, "m"),
                                             c=bilby.core.prior.Uniform(-2, 2, "c")))

    # A mass-covering proposal: the least-squares fit, covariance doubled, heavy tails.
    design = np.column_stack([x, np.ones_like(x)])
    covariance = sigma**2 * np.linalg.inv(design.T @ design)
    mean = covariance @ design.T @ y / sigma**2
    proposal = MultivariateStudentTProposal(["m", "c"], mean, 2 * covariance, dof=5)

    result = bilby.run_sampler(
        likelihood, priors, sampler="dingo", proposal=proposal, target_n_eff=5000,
        outdir=args.outdir, label="quickstart", injection_parameters=injection, plot=True,
        sampling_seed=1, resume=False,
    )
    dingo = result.meta_data["dingo"]
    print(f"sample efficiency : {100 * dingo['sample_efficiency']:.1f}%")
    print(f"n_eff             : {dingo['n_eff']:.0f} of {dingo['num_proposals']} draws")
    print(f"log Z             : {result.log_evidence:.3f} ± {result.log_evidence_err:.3f}")
    print(f"posterior samples : {len(result.posterior)} (rejection sampling, distinct draws)")
    print(f"outputs in {args.outdir}/: result file, corner plot, weight diagnostics")


if __name__ == "__main__":
    main()
