"""An unconditional spline flow fitted to weighted draws: the flexible family of fitted densities.

:class:`bilby_dingo.proposals.fitted.FittedDensity` maps the sampled parameters to standardised values y
on the real line; this module fits a density of y. A Student-t mixture (fitted.py) follows ellipsoidal
pieces; a GW posterior's banana-shaped mass–spin correlations and its sky ring need many of them. A
rational-quadratic spline flow (glasflow's ``CouplingNSF``) bends to such shapes with few parameters.

Training maximises the weighted log density: minibatches are drawn from the training share of the
draws with probabilities proportional to their weights, and training stops when the weighted log
density of the held-out share stops improving (the best state is kept). Training runs in float32; the
fitted density then draws and evaluates in float64, so that the density used for the importance weights
is the density the draws come from to rounding; the state is plain arrays (no pickle) and seeds come from the caller's numpy generator.
"""

import dataclasses

import numpy as np
import torch
from glasflow.flows import CouplingNSF
from scipy.special import logsumexp

from ..network.splines import make_sync_free

ARCHITECTURE_KEYS = ("num_inputs", "num_transforms", "num_neurons", "num_blocks", "num_bins", "tail_bound")
DEFAULT_ARCHITECTURE = dict(num_transforms=4, num_neurons=32, num_blocks=1, num_bins=8, tail_bound=6.0)


@dataclasses.dataclass(frozen=True)
class FlowTraining:
    """How a flow is fitted: minibatch steps, a held-out check every ``check_every`` steps, and a stop after
    ``patience`` checks without improvement (the best state is kept).

    Shorter training is not free. Refitting recorded refinement problems (``benchmarks/flow_fit_settings.py``)
    with checks every 25 steps, patience 3 and warm starts at 1e-3 took 40% of the CPU time and scored a
    slightly *better* held-out log density, yet on survey injections the refinement's final efficiency fell
    (11.5% against 27.3%, 14.2% against 18.4% on two of them, docs/validation.md): the mean held-out log
    density measures the bulk, the efficiency the tails. These defaults are the ones the survey measured.
    """

    batch_size: int = 512
    max_steps: int = 3000
    check_every: int = 50  # steps between held-out checks
    patience: int = 6  # checks without improvement before training stops
    learning_rate: float = 3e-3
    warm_start_learning_rate: float = 3e-3  # a warm start continues from the previous round's flow


DEFAULT_TRAINING = FlowTraining()
# The proposal draws the flow's base variables from N(0, s² I) with s = BASE_SCALE (trained with s = 1),
# and a share WIDE_SHARE of them with s = WIDE_SCALE: a flow fitted to a few hundred effective draws is
# overconfident in its tails, and posterior mass it misses is otherwise covered only by the broad base
# proposal's share α of a defensive mixture, whose weights there are up to 1/α times the base's.
BASE_SCALE = 1.25
WIDE_SCALE = 2.5
WIDE_SHARE = 0.15
VALIDATION_SHARE = 0.2


def _build(architecture):
    flow = CouplingNSF(n_inputs=int(architecture["num_inputs"]), n_transforms=int(architecture["num_transforms"]),
                       n_neurons=int(architecture["num_neurons"]), n_blocks_per_transform=int(architecture["num_blocks"]),
                       num_bins=int(architecture["num_bins"]), tail_bound=float(architecture["tail_bound"]))
    # The same splines (same parameters) without boolean-mask indexing: a training step takes 2/3 of the time.
    make_sync_free(flow)
    return flow.double()


class SplineFlowDensity:
    """A normalised density of y ∈ R^D: glasflow's coupling spline flow with a standard normal base."""

    def __init__(self, flow, architecture, base_scales=None, base_shares=None, training_steps=None):
        self.flow = flow.eval()
        self.training_steps = training_steps  # of the fit that made it (None when rebuilt from arrays)
        self.architecture = dict(architecture)
        # The base distribution: Σ_j share_j N(0, scale_j² I).
        self.base_scales = np.asarray((BASE_SCALE, WIDE_SCALE) if base_scales is None else base_scales, dtype=float)
        self.base_shares = np.asarray((1 - WIDE_SHARE, WIDE_SHARE) if base_shares is None else base_shares, dtype=float)

    num_components = 0  # not a mixture: recorded as 0 in refinement rounds

    def describe(self):
        return (f"spline flow ({self.architecture['num_transforms']} transforms, "
                f"{self.architecture['num_bins']} bins)")

    @classmethod
    def fit(cls, y, weights, rng, start=None, training=None, **architecture):
        """Fit to points ``y`` (n, D) with non-negative ``weights`` (n,).

        ``start``: a SplineFlowDensity of the same architecture whose parameters training starts from
        (the previous refinement round's: the target moves little from round to round). ``training``: a
        :class:`FlowTraining` (default ``DEFAULT_TRAINING``).
        """
        training = DEFAULT_TRAINING if training is None else training
        y = np.asarray(y, dtype=float)
        weights = np.asarray(weights, dtype=float)
        architecture = dict(DEFAULT_ARCHITECTURE, num_inputs=y.shape[1], **architecture)
        seed = int(rng.integers(2**31))
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            # Trained in float32 (a third faster on a CPU); the density is the float64 flow with the trained
            # parameters, with which every draw is made and weighed.
            flow = _build(architecture).float()
            learning_rate = training.learning_rate
            if start is not None and start.architecture == architecture:
                flow.load_state_dict(start.flow.state_dict())
                learning_rate = training.warm_start_learning_rate
            held_out = rng.random(len(y)) < VALIDATION_SHARE
            train, test = ~held_out & (weights > 0), held_out & (weights > 0)
            if weights[train].sum() <= 0 or weights[test].sum() <= 0:
                train = test = weights > 0
            train_points = torch.as_tensor(y[train], dtype=torch.float32)
            train_p = weights[train] / weights[train].sum()
            test_points = torch.as_tensor(y[test], dtype=torch.float32)
            test_weights = torch.as_tensor(weights[test] / weights[test].sum(), dtype=torch.float32)
            optimizer = torch.optim.Adam(flow.parameters(), lr=learning_rate)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, training.max_steps)
            best_score, best_state, waited = -np.inf, None, 0
            for step in range(1, training.max_steps + 1):
                batch = train_points[rng.choice(len(train_points), size=training.batch_size, p=train_p)]
                optimizer.zero_grad()
                loss = -flow.log_prob(batch).mean()
                loss.backward()
                optimizer.step()
                scheduler.step()
                if step % training.check_every == 0 or step == training.max_steps:
                    with torch.no_grad():
                        score = float(test_weights @ flow.log_prob(test_points))
                    if score > best_score:
                        best_score, waited = score, 0
                        best_state = {key: value.clone() for key, value in flow.state_dict().items()}
                    else:
                        waited += 1
                        if waited >= training.patience:
                            break
            flow.load_state_dict(best_state)
        return cls(flow.double(), architecture, training_steps=step)

    def log_prob(self, y):
        """log Σ_j share_j N(z; 0, scale_j² I) + log |dz/dy| with z the flow's base variables of y."""
        with torch.no_grad():
            noise, log_jacobian = self.flow.forward(torch.as_tensor(np.asarray(y, dtype=float)))
        noise, log_jacobian = noise.numpy(), log_jacobian.numpy()
        dim = noise.shape[1]
        squared = np.sum(noise**2, axis=1)[:, None]
        scales, shares = self.base_scales[None, :], self.base_shares[None, :]
        log_base = logsumexp(np.log(shares) - 0.5 * squared / scales**2 - dim * np.log(scales), axis=1)
        return log_base - 0.5 * dim * np.log(2 * np.pi) + log_jacobian

    def sample(self, n, rng):
        """n points; the base draws come from ``rng``, so the same generator gives the same points."""
        scales = self.base_scales[rng.choice(len(self.base_scales), size=n, p=self.base_shares)]
        noise = torch.as_tensor(scales[:, None] * rng.standard_normal((n, int(self.architecture["num_inputs"]))))
        with torch.no_grad():
            points, _ = self.flow.inverse(noise)
        return points.numpy()

    def to_arrays(self):
        arrays = {"architecture": np.array([self.architecture[key] for key in ARCHITECTURE_KEYS], dtype=float),
                  "base_scales": self.base_scales, "base_shares": self.base_shares}
        arrays.update({f"state:{key}": value.numpy() for key, value in self.flow.state_dict().items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays):
        architecture = dict(zip(ARCHITECTURE_KEYS, np.asarray(arrays["architecture"], dtype=float).tolist()))
        flow = _build(architecture)
        state = {key[len("state:"):]: torch.as_tensor(np.asarray(value)) for key, value in arrays.items()
                 if key.startswith("state:")}
        flow.load_state_dict(state)
        return cls(flow, architecture, arrays["base_scales"], arrays["base_shares"])
