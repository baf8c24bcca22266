"""Sequential and permuted-sequential MNIST (S-MNIST, PS-MNIST): handwritten digits shown one
pixel per time step, a classic long-memory benchmark (784 steps).

Data: LeCun, Cortes and Burges' MNIST (60000 training, 10000 test images of 28x28 pixels,
ten classes), read from its own IDX files ``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (gzipped
``.gz`` or not) in ``<root>/MNIST/raw/`` (torchvision's layout, so a folder torchvision filled
works), ``root`` the task's option, else ``$HETSYN_MNIST_ROOT``, else ``~/.cache/hetsyn/mnist``.
Nothing is downloaded unless asked (``download=True``: the four ``.gz`` files from
:data:`MIRROR`, md5-checked, through tonic's download helper).

Encoding (``T = 784``, one input channel): ``x[t, b, 0]`` is pixel ``p(t)`` of image ``b``,
row by row (``p(t) = t``; PS-MNIST: ``p = perm[t]``, one fixed permutation drawn from
``permutation_seed``), as its intensity in [0, 1] (``encoding="analog"``: an input current) or
as a spike drawn with that probability (``"spikes"``; the training set's spikes are drawn anew
every epoch, the test and validation sets' from fixed seeds, the same on every pass).
The paper does not give its encoding: analog input is
this package's choice, the common one for S-MNIST.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Optional

import torch
from torch import Tensor

from ..core.validation import check_choice, check_positive_int
from .paper_network import PaperNetworkTask
from .shd import DataNotFoundError

ROOT_ENV = "HETSYN_MNIST_ROOT"
DEFAULT_ROOT = "~/.cache/hetsyn/mnist"
MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FILES = {  # split: (images, labels)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MD5 = {  # of the .gz files
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
ENCODINGS = ("analog", "spikes")
SIDE = 28
N_CLASSES = 10
_IDX_DTYPES = {0x08: torch.uint8}


def raw_folder(root: Optional[str | os.PathLike] = None) -> Path:
    """``<root>/MNIST/raw`` with ``root`` resolved (option, environment variable, default)."""
    root = root if root is not None else os.environ.get(ROOT_ENV) or DEFAULT_ROOT
    return Path(root).expanduser() / "MNIST" / "raw"


def read_idx(path: str | os.PathLike) -> Tensor:
    """An IDX file (gzipped when its name ends in ``.gz``) as a uint8 tensor of its shape.

    Format: two zero bytes, a type byte (0x08: unsigned byte), the number of dimensions, then
    each dimension as a big-endian int32, then the data."""
    path = Path(path)
    data = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    if len(data) < 4 or data[0] or data[1] or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (magic {data[:4]!r})")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    size = 1
    for d in shape:
        size *= d
    if len(data) != header + size:
        raise ValueError(
            f"{path}: the header promises {shape} = {size} bytes; the file holds "
            f"{len(data) - header}"
        )
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).view(shape)


def _find(folder: Path, name: str) -> Optional[Path]:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_mnist(
    root: Optional[str | os.PathLike], split: str, *, download: bool = False
) -> tuple[Tensor, Tensor]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of ``split`` (``"train"``/``"test"``)."""
    check_choice("split", split, FILES)
    folder = raw_folder(root)
    paths = []
    for name in FILES[split]:
        path = _find(folder, name)
        if path is None and download:
            from tonic.download_utils import download_url

            download_url(f"{MIRROR}{name}.gz", str(folder), f"{name}.gz", MD5[name])
            path = _find(folder, name)
        if path is None:
            raise DataNotFoundError(
                f"the MNIST {split} file {name} is not in {folder} (as {name} or {name}.gz). "
                f"Let the task download it (download=True, from {MIRROR}), copy the IDX files "
                f"there yourself, or point the task at a folder holding MNIST/raw/ with "
                f"root=... or the environment variable {ROOT_ENV}."
            )
        paths.append(path)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.dim() != 3 or images.shape[1:] != (SIDE, SIDE) or labels.dim() != 1:
        raise ValueError(
            f"MNIST {split}: expected images (N, 28, 28) and labels (N,); got "
            f"{tuple(images.shape)} and {tuple(labels.shape)}"
        )
    if len(images) != len(labels):
        raise ValueError(f"MNIST {split}: {len(images)} images but {len(labels)} labels")
    if labels.numel() and int(labels.max()) >= N_CLASSES:
        raise ValueError(f"MNIST {split}: a label outside 0..9 ({int(labels.max())})")
    return images, labels.long()


@dataclass
class SequentialMNIST(PaperNetworkTask):
    """S-MNIST: the 784 pixels of an MNIST digit one per step (ten classes, chance 10 %), with
    the network, loss and recipe options of
    :class:`~hetsyn_plugins.tasks.paper_network.PaperNetworkTask` (the paper's SHD recipe).

    Args:
        root: data root holding ``MNIST/raw/``; default ``$HETSYN_MNIST_ROOT`` or
            ``~/.cache/hetsyn/mnist``.
        download: fetch the files when they are missing.
        permuted: show the pixels in a fixed random order (PS-MNIST).
        permutation_seed: seed of that order.
        encoding: ``"analog"`` (intensity in [0, 1] as the input) or ``"spikes"``.
        seed: seed of the test set's spikes (``encoding="spikes"``).

    ``x``: (784, B, 1) float32; target (B,): the digit, int64.
    """

    name: ClassVar[str] = "smnist"

    root: Optional[str] = None
    download: bool = False
    permuted: bool = False
    permutation_seed: int = 0
    encoding: str = "analog"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.root is not None:
            self.root = os.fspath(self.root)
        check_choice("encoding", self.encoding, ENCODINGS)
        self._check_network_options()
        self._data: dict[str, tuple[Tensor, Tensor]] = {}

    @property
    def in_features(self) -> int:
        return 1

    @property
    def out_features(self) -> int:
        return N_CLASSES

    @property
    def steps(self) -> int:
        return SIDE * SIDE

    @property
    def order(self) -> Tensor:
        """The pixel shown at each step (784,)."""
        if not self.permuted:
            return torch.arange(self.steps)
        gen = torch.Generator().manual_seed(self.permutation_seed)
        return torch.randperm(self.steps, generator=gen)

    def split_data(self, split: str) -> tuple[Tensor, Tensor]:
        """Pixel sequences (N, 784) float32 in [0, 1], in the order shown, and labels (N,)."""
        self.check_split(split)
        if split not in self._data:
            file_split = "test" if split == "test" else "train"
            images, labels = load_mnist(self.root, file_split, download=self.download)
            if self.limit is not None:
                images, labels = images[: self.limit], labels[: self.limit]
            seq = images.reshape(len(images), -1).float().div_(255)[:, self.order]
            if file_split == "train" and self.has_validation:
                train, val = self.holdout(len(labels))
                self._data["train"] = (seq[train], labels[train])
                self._data["validation"] = (seq[val], labels[val])
            else:
                self._data[split] = (seq, labels)
        return self._data[split]

    def num_samples(self, split: str) -> int:
        return len(self.split_data(split)[1])

    def _encode(self, seq: Tensor, generator: torch.Generator) -> Tensor:
        x = seq.t().unsqueeze(-1).contiguous()  # (784, B, 1)
        return torch.bernoulli(x, generator=generator) if self.encoding == "spikes" else x

    def batches(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[Tensor, Tensor]]:
        batch_size = check_positive_int("batch_size", batch_size)
        seq, labels = self.split_data(split)
        n = len(labels)
        if split == "train":
            order, gen = torch.randperm(n, generator=generator), generator
        else:  # the same samples (and spikes) on every pass
            order = torch.arange(n)
            gen = torch.Generator().manual_seed(self.seed + (split == "validation"))
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            yield self._encode(seq[idx], gen), labels[idx]


@dataclass
class PermutedSequentialMNIST(SequentialMNIST):
    """PS-MNIST: :class:`SequentialMNIST` with the pixels in a fixed random order."""

    name: ClassVar[str] = "psmnist"

    permuted: bool = True
