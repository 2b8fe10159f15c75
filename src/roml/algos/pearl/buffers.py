"""PEARL's per-slot storage: the RL replay buffers and the encoder (context) buffers, one of each per train slot.

Both are :class:`SlotBuffer`: one tensor ``(slots, capacity, width)`` on the agent's device, a ring per slot. A
transition is one row ``[obs | action | reward | next_obs | terminal]`` in the RL buffer; the encoder buffer keeps
its first columns ``[obs | action | reward]`` (the context PEARL's encoder reads). Draws are uniform with replacement
over a slot's stored rows (PEARL's ``random_batch``), with indices drawn on the CPU from the caller's generator, so
CPU and CUDA runs sample the same rows.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["SlotBuffer"]


class SlotBuffer:
    """``num_slots`` rings of at most ``max_size`` rows of ``width`` float32 columns each, in one tensor.

    Storage starts at ``initial_capacity`` rows per slot and doubles (up to ``max_size``) when a slot needs more, so
    a buffer that may hold a million rows per slot costs only what is stored. Once a slot holds ``max_size`` rows,
    new rows overwrite its oldest.
    """

    def __init__(self, num_slots: int, width: int, max_size: int, initial_capacity: int, device: str = "cpu"):
        if min(num_slots, width, max_size, initial_capacity) < 1:
            raise ValueError("num_slots, width, max_size and initial_capacity must be >= 1")
        self.num_slots, self.width, self.max_size = num_slots, width, max_size
        self.device = torch.device(device)
        self.storage = torch.zeros(num_slots, min(initial_capacity, max_size), width, device=self.device)
        self.sizes = np.zeros(num_slots, dtype=np.int64)
        """Rows stored per slot."""
        self.tops = np.zeros(num_slots, dtype=np.int64)
        """Where each slot's next row goes."""

    @property
    def capacity(self) -> int:
        return self.storage.shape[1]

    def _grow(self, needed: int) -> None:
        capacity = self.capacity
        if needed <= capacity or capacity == self.max_size:
            return
        while capacity < needed:
            capacity *= 2
        grown = torch.zeros(self.num_slots, min(capacity, self.max_size), self.width, device=self.device)
        grown[:, : self.capacity] = self.storage
        self.storage = grown

    def add(self, slots, rows: torch.Tensor) -> None:
        """Append ``rows[i]`` ``(n, width)`` to slot ``slots[i]`` (distinct slots), oldest rows overwritten once a
        slot is full."""
        slots = np.asarray(slots, dtype=np.int64)
        if len(np.unique(slots)) != len(slots) or rows.shape[:1] != (len(slots),) or rows.shape[2] != self.width:
            raise ValueError(f"add takes distinct slots and rows (slots, n, {self.width}), got {tuple(rows.shape)}")
        n = rows.shape[1]
        if n > self.max_size:
            rows, n = rows[:, -self.max_size :], self.max_size
        self._grow(int((self.tops[slots] + n).max()))
        positions = (self.tops[slots, None] + np.arange(n)) % self.capacity  # (k, n); only wraps at max_size
        index = torch.as_tensor(positions, device=self.device)
        self.storage[torch.as_tensor(slots, device=self.device)[:, None], index] = rows.to(self.device)
        self.tops[slots] = (self.tops[slots] + n) % self.max_size
        self.sizes[slots] = np.minimum(self.sizes[slots] + n, self.max_size)

    def clear(self, slots) -> None:
        """Forget every row of ``slots`` (the storage is reused)."""
        slots = np.asarray(slots, dtype=np.int64)
        self.sizes[slots] = 0
        self.tops[slots] = 0

    def sample(self, slots, n: int, generator: torch.Generator) -> torch.Tensor:
        """``(len(slots), n, width)`` rows: for each entry of ``slots`` (repeats allowed), ``n`` rows drawn uniformly
        with replacement from that slot's stored rows."""
        slots = np.asarray(slots, dtype=np.int64)
        sizes = self.sizes[slots]
        if np.any(sizes == 0):
            raise ValueError(f"slots {sorted(set(slots[sizes == 0].tolist()))} hold no rows to sample")
        uniform = torch.rand((len(slots), n), generator=generator, dtype=torch.float64)
        limit = torch.as_tensor(sizes, dtype=torch.float64)[:, None]
        index = torch.minimum((uniform * limit).long(), torch.as_tensor(sizes - 1)[:, None])
        return self.storage[torch.as_tensor(slots, device=self.device)[:, None], index.to(self.device)]

    def rows(self, slot: int) -> torch.Tensor:
        """Slot ``slot``'s stored rows, in storage order (a view)."""
        return self.storage[slot, : self.sizes[slot]]

    def state_dict(self) -> dict:
        """Each slot's stored rows (on the CPU, in storage order), sizes and write positions."""
        return {
            "rows": [self.rows(slot).cpu().clone() for slot in range(self.num_slots)],
            "sizes": self.sizes.copy(),
            "tops": self.tops.copy(),
        }

    def load_state_dict(self, state: dict) -> None:
        sizes, tops = np.asarray(state["sizes"], dtype=np.int64), np.asarray(state["tops"], dtype=np.int64)
        rows = state["rows"]
        if sizes.shape != (self.num_slots,) or len(rows) != self.num_slots:
            raise ValueError(f"a buffer state of {len(rows)} slots, {self.num_slots} configured")
        if np.any(sizes > self.max_size) or any(r.shape != (s, self.width) for r, s in zip(rows, sizes)):
            raise ValueError(f"a buffer state whose rows do not fit {self.max_size} rows of width {self.width}")
        self.storage.zero_()
        self._grow(int(sizes.max(initial=0)))
        for slot, slot_rows in enumerate(rows):
            self.storage[slot, : len(slot_rows)] = slot_rows.to(self.device)
        self.sizes, self.tops = sizes.copy(), tops.copy()
