"""Datasets, selected by --dataset_mode: 'unaligned' (CycleGAN), 'aligned' (pix2pix), 'single' (inference)."""
from util.registry import Registry

DATASETS = Registry("dataset mode", "--dataset_mode")

# Imported after DATASETS exists: each module registers its dataset class in it.
from datasets import aligned_dataset, single_dataset, unaligned_dataset  # noqa: E402,F401


def create_dataset(opt):
    """Build the dataset named by ``opt.dataset_mode`` from ``opt``; unknown names raise `UserError`."""
    return DATASETS.get(opt.dataset_mode)(opt)


def first_batch(dataset) -> dict:
    """A batch of one made from item 0, for set-up that needs data shapes (no DataLoader workers started)."""
    from torch.utils.data import default_collate

    return default_collate([dataset[0]])
