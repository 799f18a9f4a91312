"""q(t̂): the density of GNPE's time proxies, fitted to the final proxies of the Gibbs chains.

Its own module because it is a density estimator, independent of the network: it knows nothing of
models, likelihoods or events, only of an (N, n_detectors) array of proxies.
"""

import numpy as np
import torch
from glasflow.flows import CouplingNSF
from scipy import stats


class ProxyDensity:
    """q(t̂): a normalised density fitted to proxies of shape (N, n_detectors), to sample and evaluate.

    The core is fitted to the chains' proxies: for two or more detectors a glasflow rational-quadratic
    spline flow on standardised proxies (maximum likelihood, ``steps`` Adam steps); for one a Student-t.
    Gibbs chains settle in the dominant mode, so a core fitted to them misses other modes of the time
    posterior (e.g. a signal one cycle later with other masses and spins: measured on the quickstart
    injection, where such draws carried most of the weight once found). A broad component keeps q(t̂)
    mass-covering: weight ``broad_weight``, a Student-t (3 degrees of freedom) centred on the proxies with
    4× their spread plus 2 ms in quadrature. Whatever the split, the weights stay exact.
    """

    BROAD_SCALE = 4.0
    BROAD_FLOOR = 0.002  # s

    def __init__(self, proxies, seed=0, steps=300, batch_size=1024, transforms=2, blocks_per_transform=1,
                 broad_weight=0.1):
        proxies = np.asarray(proxies, dtype=float)
        self.dimension = proxies.shape[1]
        self.mean = proxies.mean(axis=0)
        self.std = proxies.std(axis=0) + 1e-12
        self.broad_weight = float(broad_weight)
        covariance = np.atleast_2d(np.cov(proxies.T)) if len(proxies) > 1 else np.diag(self.std**2)
        self._broad = stats.multivariate_t(
            self.mean, self.BROAD_SCALE**2 * covariance + self.BROAD_FLOOR**2 * np.eye(self.dimension), df=3)
        if self.dimension == 1:
            self._student_t = stats.t(df=5, loc=self.mean[0], scale=1.2 * self.std[0])
            return
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.flow = CouplingNSF(n_inputs=self.dimension, n_transforms=transforms, n_neurons=32, num_bins=8,
                                    n_blocks_per_transform=blocks_per_transform, tail_bound=5.0)
        # Standardised proxies are O(1): single precision is ample (the means and scales stay in float64).
        data = torch.from_numpy((proxies - self.mean) / self.std).float()
        optimiser = torch.optim.Adam(self.flow.parameters(), lr=3e-3)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps)
        self.flow.train()
        for _ in range(steps):
            batch = data[torch.randint(len(data), (min(batch_size, len(data)),), generator=generator)]
            optimiser.zero_grad()
            loss = -self.flow.log_prob(batch).mean()
            loss.backward()
            optimiser.step()
            schedule.step()
        self.flow.eval()
        with torch.no_grad():
            self.final_loss = float(-self.flow.log_prob(data).mean())

    def _core_log_prob(self, proxies):
        if self.dimension == 1:
            return self._student_t.logpdf(proxies[:, 0])
        with torch.no_grad():
            z = torch.from_numpy((proxies - self.mean) / self.std).float()
            return self.flow.log_prob(z).double().numpy() - np.log(self.std).sum()

    def log_prob(self, proxies):
        proxies = np.asarray(proxies, dtype=float)
        core = self._core_log_prob(proxies)
        if self.broad_weight == 0:
            return core
        broad = np.atleast_1d(self._broad.logpdf(proxies))
        return np.logaddexp(np.log1p(-self.broad_weight) + core, np.log(self.broad_weight) + broad)

    def sample_and_log_prob(self, n, rng):
        num_broad = int(rng.binomial(n, self.broad_weight)) if self.broad_weight else 0
        if self.dimension == 1:
            core = self._student_t.rvs(size=n - num_broad, random_state=rng).reshape(-1, 1)
        else:
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                torch.manual_seed(int(rng.integers(2**62)))
                z, _ = self.flow.sample_and_log_prob(n - num_broad)
            core = z.double().numpy() * self.std + self.mean
        values = core
        if num_broad:
            broad = np.asarray(self._broad.rvs(size=num_broad, random_state=rng)).reshape(num_broad, self.dimension)
            values = np.concatenate([core, broad])[rng.permutation(n)]
        # log q of the float64 values actually returned, not of the float32 draw.
        return values, self.log_prob(values)
