"""Task environments and data generators: the paper's benchmarks as task-parameterised families."""
