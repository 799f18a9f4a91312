"""Training q(θ | d, S_n): the config file, the training loop and the model file."""
