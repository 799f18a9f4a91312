"""The proposal for a model file: the one place that chooses between the plain network and GNPE.

The choice lives above both classes, so that neither the base class constructs its subclass nor the
two modules import each other (the caller picks the class, as DINGO's does between its samplers).
"""

from ..network.model_file import load_model
from ..utils import resolve_device
from .gnpe import GIBBS_CHAINS, GIBBS_ITERATIONS, GUIDE_DRAWS, GNPEProposal
from .network import NetworkProposal


def network_proposal(model_path, likelihood, priors, search_parameter_keys, device="cpu", loaded_model=None,
                     gnpe_iterations=GIBBS_ITERATIONS, gnpe_chains=GIBBS_CHAINS, gnpe_guide_draws=GUIDE_DRAWS,
                     **kwargs):
    """:class:`NetworkProposal` for a model file, or :class:`GNPEProposal` when the model was trained with GNPE.

    ``gnpe_*`` apply to GNPE models only; every other keyword goes to the proposal's constructor.
    """
    device = resolve_device(device)
    loaded_model = loaded_model or load_model(model_path, device=device)
    if loaded_model[1].get("gnpe"):
        return GNPEProposal(model_path, likelihood, priors, search_parameter_keys, device=device,
                            loaded_model=loaded_model, gnpe_iterations=gnpe_iterations, gnpe_chains=gnpe_chains,
                            gnpe_guide_draws=gnpe_guide_draws, **kwargs)
    return NetworkProposal(model_path, likelihood, priors, search_parameter_keys, device=device,
                           loaded_model=loaded_model, **kwargs)
