"""Validation over many simulated events: P-P tests of the network alone and after importance sampling."""
