"""The experiment layer: paper presets, the runner, results files (see docs/architecture.md)."""
