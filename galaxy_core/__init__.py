"""galaxy_core: train, evaluate and explain galaxy-morphology classifiers on Galaxy10 DECaLS."""

__version__ = "0.1.0"
