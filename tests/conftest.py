"""One torch thread per test process, as in every roml run: pytest-xdist already runs one process per core, and
torch's default of one thread per core would oversubscribe them."""

import torch

torch.set_num_threads(1)
