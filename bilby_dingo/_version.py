"""The package version, in a module of its own so that any layer can read it without importing the package's
public face (``bilby_dingo/__init__.py`` imports the proposals, which sit above training)."""

__version__ = "0.1.0"
