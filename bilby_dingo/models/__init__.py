"""The default model shipped with bilby_dingo: its training config, and its file once trained.

``default_bbh.ini`` is the committed config (stellar-mass BBH, H1+L1, O1-O4 noise; the scope is in its
header). The trained model file ``default_bbh_model.pt`` is shipped inside the package when it exists.
"""

import os

MODELS_DIRECTORY = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL_CONFIG = os.path.join(MODELS_DIRECTORY, "default_bbh.ini")
DEFAULT_MODEL_FILE = os.path.join(MODELS_DIRECTORY, "default_bbh_model.pt")


def default_model():
    """Path of the default model file shipped in the package.

    Raises
    ------
    FileNotFoundError
        When this installation carries no trained default model; the message says how to train one.
    """
    if not os.path.isfile(DEFAULT_MODEL_FILE):
        raise FileNotFoundError(
            f"This bilby_dingo installation ships no trained default model ({DEFAULT_MODEL_FILE} is missing). "
            f"Train it with `bilby_dingo_train {DEFAULT_MODEL_CONFIG} --outdir outdir_default_bbh` and pass "
            f"model='outdir_default_bbh/default_bbh_model.pt', or train a model for your analysis.")
    return DEFAULT_MODEL_FILE
