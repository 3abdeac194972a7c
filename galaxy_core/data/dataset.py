"""A torch Dataset over a Galaxy10 file: uint8 pixels and labels, preprocessed per batch on the device."""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from galaxy_core.data.galaxy10 import Galaxy10


class Galaxy10Dataset(Dataset):
    """Images of `indices` as uint8 (H, W, 3) tensors with their labels.

    Pixels stay uint8 until `preprocess` runs on the batch (on the GPU when there is one): a quarter
    of the bytes through the loader, and one preprocessing path for every caller. Each DataLoader
    worker opens its own HDF5 handle (see `Galaxy10`).
    """

    def __init__(self, data: Galaxy10, indices: np.ndarray):
        self.data = data
        self.indices = np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, int]:
        index = int(self.indices[position])
        return torch.from_numpy(self.data.image(index)), int(self.data.labels[index])
