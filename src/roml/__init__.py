"""roml: robust meta-learning over tasks (CVaR-ML and RoML, *Train Hard, Fight Easy*)."""

__version__ = "0.1.0"
