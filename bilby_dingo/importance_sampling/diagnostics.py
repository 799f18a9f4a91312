"""DINGO-IS diagnostic plots: where the proposal matches the posterior, and how the weights spread."""

import numpy as np
from matplotlib.figure import Figure  # no pyplot: leaves the user's backend alone


def _annotation(summary):
    return (
        f"efficiency = {100 * summary.sample_efficiency:.2f}%\n"
        f"$n_\\mathrm{{eff}}$ = {summary.n_eff:.0f} of N = {summary.num_draws}"
    )


def plot_weights(log_likelihood, log_prior, log_proposal, summary, filename):
    """Scatter log L + log π − log Z against log q.

    Where the proposal equals the posterior the points lie on the line of equal values; points
    above it are draws the proposal under-covers (large weights).
    """
    target = log_likelihood + log_prior - summary.log_evidence
    valid = np.isfinite(target)
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    ax.scatter(log_proposal[valid], target[valid], s=2, alpha=0.3, rasterized=True)
    if np.any(valid):
        # Show the bulk of the proposal and the top 20 e-folds of the target, where weights matter.
        x, y = log_proposal[valid], target[valid]
        high = max(x.max(), y.max()) + 1
        low = min(np.percentile(x, 1), y.max() - 20)
        ax.plot([low, high], [low, high], color="k", lw=1, label="equal values")
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
    ax.set_xlabel(r"$\log q(\theta)$")
    ax.set_ylabel(r"$\log L(\theta) + \log \pi(\theta) - \log Z$")
    ax.legend(loc="lower right")
    ax.text(0.03, 0.97, _annotation(summary), transform=ax.transAxes, va="top")
    ax.set_title("DINGO-IS weights")
    fig.tight_layout()
    fig.savefig(filename, dpi=120)


def plot_weight_distribution(log_w, summary, filename):
    """Histogram of log10 of the normalised nonzero weights (mean weight at 0)."""
    finite = log_w[np.isfinite(log_w)]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    if finite.size:
        log10_w = (finite - np.log(np.mean(np.exp(finite - finite.max()))) - finite.max()) / np.log(10)
        ax.hist(log10_w, bins=60, histtype="stepfilled", alpha=0.7)
    ax.set_yscale("log")
    ax.set_xlabel(r"$\log_{10}(w / \bar w)$, nonzero weights")
    ax.set_ylabel("draws")
    ax.text(0.03, 0.97, _annotation(summary) + f"\nzero weights: {summary.num_zero_weight}",
            transform=ax.transAxes, va="top")
    ax.set_title("Importance-weight distribution")
    fig.tight_layout()
    fig.savefig(filename, dpi=120)


def plot_log_probabilities(log_likelihood, log_prior, log_proposal, summary, filename):
    """Distributions of log q and of the normalised target log L + log π − log Z over the draws.

    Where the proposal matches the posterior the two histograms coincide.
    """
    target = log_likelihood + log_prior - summary.log_evidence
    valid = np.isfinite(target)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    if np.any(valid):
        high = max(log_proposal[valid].max(), target[valid].max()) + 1
        low = max(min(np.percentile(log_proposal[valid], 0.5), np.percentile(target[valid], 0.5)), high - 40)
        bins = np.linspace(low, high, 60)
        ax.hist(log_proposal[valid], bins=bins, histtype="step", label=r"$\log q(\theta)$")
        ax.hist(target[valid], bins=bins, histtype="step", label=r"$\log L + \log \pi - \log Z$")
    ax.set_xlabel("log density at the draws")
    ax.set_ylabel("draws")
    ax.legend(loc="upper left")
    ax.text(0.97, 0.97, _annotation(summary), transform=ax.transAxes, va="top", ha="right")
    fig.tight_layout()
    fig.savefig(filename, dpi=120)


def plot_posterior_corner(samples, keys, truths, summary, filename):
    """Corner plot of the unweighted (rejection-sampled) posterior, with the injection when known."""
    import corner

    if len(samples) <= len(keys):
        return False
    fig = corner.corner(samples, labels=keys, truths=truths, show_titles=True, title_fmt=".3g")
    fig.suptitle(f"dingo: {len(samples)} samples, " + _annotation(summary).replace("\n", ", "), y=1.02)
    fig.savefig(filename, dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return True


def plot_refinement(rounds, final_summary, filename):
    """Sample efficiency per refinement round (round 0: the base proposal) and of the final draws.

    Each round's proposal's efficiency from its own draws, and as estimated from all rounds' draws (the
    estimate that chooses the frozen proposal).

    ``rounds``: the columns of ``meta_data["dingo"]["refinement"]["rounds"]``.
    """
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    numbers = list(rounds["round"])
    efficiencies = [100 * max(value, 1e-6) for value in rounds["sample_efficiency"]]
    ax.plot(numbers, efficiencies, "o-", label="each round's own draws")
    if "pooled_efficiency" in rounds:
        ax.plot(numbers, [100 * max(value, 1e-6) for value in rounds["pooled_efficiency"]], "s:",
                label="estimated from all rounds' draws")
    for number, beta, efficiency in zip(numbers, rounds["beta"], efficiencies):
        if np.isfinite(beta):
            ax.annotate(f"β={beta:.2g}", (number, efficiency), textcoords="offset points", xytext=(0, 6),
                        ha="center", fontsize=8)
    ax.axhline(100 * max(final_summary.sample_efficiency, 1e-6), color="k", ls="--",
               label=f"final draws: {100 * final_summary.sample_efficiency:.2f}%")
    ax.set_yscale("log")
    ax.set_xlabel("round")
    ax.set_ylabel("sample efficiency (%)")
    ax.set_xticks(numbers)
    ax.legend(loc="lower right")
    ax.set_title("Adaptive proposal refinement")
    fig.tight_layout()
    fig.savefig(filename, dpi=120)
