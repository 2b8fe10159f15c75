"""Meta-learning algorithms (PyTorch): the baselines that roml's task samplers wrap."""
