"""The Spiking Heidelberg Digits (SHD): spoken digits as spikes of 700 cochlear channels.

Data: Cramer, Stradmann, Schemmel and Zenke, "The Heidelberg Spiking Data Sets for the
Systematic Evaluation of Spiking Neural Networks", IEEE TNNLS 2020
(https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/, CC BY 4.0): recordings of the
digits 0-9 spoken in English and German (20 classes), turned into spikes of 700 channels by a
cochlea model; 8156 training and 2264 test samples. Read through ``tonic.datasets.SHD``.

Files: ``<root>/SHD/shd_train.h5`` and ``<root>/SHD/shd_test.h5`` (tonic's layout, so a folder
that tonic filled already works), with ``root`` the task's option, else ``$HETSYN_SHD_ROOT``,
else ``~/.cache/hetsyn/shd``. Each file holds ragged arrays ``spikes/times`` (seconds) and
``spikes/units`` (channel 0..699) per sample, ``labels`` and ``extra/{keys,speaker}``.
Nothing is downloaded unless asked (``download=True``): tonic then fetches the zip archive,
checks its md5 and unpacks it.

Encoding: the first ``duration_ms`` (1 s) of each recording in bins of ``bin_ms`` (4 ms), i.e.
``T = 250`` steps; ``x[t, b, c]`` is the number of spikes of channel ``c`` in
``[t * bin, (t + 1) * bin)`` (float32; clipped to 0/1 with ``binary=True``); later spikes are
dropped. tonic gives the spike times in integer microseconds (``floor(t_s * 1e6)``); the bin of
a spike is ``t_us // bin_us``. That is exactly what
``tonic.transforms.ToFrame(sensor_size=(700, 1, 1), time_window=bin_us, start_time=0,
end_time=duration_us)`` computes (its windows are ``[k * bin_us, (k + 1) * bin_us)``; the tests
check the two agree), done here with one ``bincount`` per batch on spikes read once and kept in
memory as ``bin * 700 + channel`` codes, which does not need the events sorted in time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Optional

import torch
from torch import Tensor

from ..core.timescales import Normal
from ..core.validation import check_positive, check_positive_int
from .base import ClassificationTask
from .network import SpikingNetwork
from .training import _progress_bar

if TYPE_CHECKING:
    import numpy as np

N_CHANNELS = 700
N_CLASSES = 20
ROOT_ENV = "HETSYN_SHD_ROOT"
DEFAULT_ROOT = "~/.cache/hetsyn/shd"
FOLDER = "SHD"  # tonic keeps a data set's files under <save_to>/<its class name>
FILES = {"train": "shd_train.h5", "test": "shd_test.h5"}
URL = "https://zenkelab.org/datasets/"


class SHDNotFoundError(FileNotFoundError):
    """The SHD files are not where the task looks for them (and downloading was not asked)."""


def resolve_root(root: Optional[str | os.PathLike] = None) -> Path:
    """The data root: ``root``, else ``$HETSYN_SHD_ROOT``, else ``~/.cache/hetsyn/shd``."""
    if root is None:
        root = os.environ.get(ROOT_ENV) or DEFAULT_ROOT
    return Path(root).expanduser()


def data_file(root: Optional[str | os.PathLike], split: str) -> Path:
    """Where the HDF5 file of ``split`` (``"train"``/``"test"``) is expected."""
    return resolve_root(root) / FOLDER / FILES[split]


def missing_data_message(root: Optional[str | os.PathLike], split: str) -> str:
    path = data_file(root, split)
    return (
        f"the SHD {split} data are not at {path}. To get them, either let the task download "
        f"them (download=True, e.g. make_task('shd', download=True); from {URL}), "
        f"or download {URL}{FILES[split]}.zip yourself and unzip it into {path.parent}; or "
        f"point the task at a folder that already holds {FOLDER}/{FILES[split]} with root=... "
        f"or the environment variable {ROOT_ENV}."
    )


@functools.lru_cache(maxsize=None)
def tonic_shd_class() -> type:
    """``tonic.datasets.SHD`` with two changes, for reading local files honestly:

    - it counts as present when the ``.h5`` file it reads exists (tonic itself also asks for
      the downloaded ``.zip``, and would fetch the archive again when only the unzipped file
      is there);
    - it downloads only when the caller allowed it (then tonic's own download runs, which
      verifies the archive's md5 before unpacking); otherwise it raises
      :class:`SHDNotFoundError`.

    The class keeps the name ``SHD``: tonic puts the files under ``<save_to>/<class name>``.
    """
    try:
        import tonic
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the 'shd' task reads the data through tonic: pip install 'hetsyn-plugins[tasks]' "
            "(or pip install tonic)"
        ) from err

    class SHD(tonic.datasets.SHD):
        def __init__(self, save_to: str, train: bool = True, *, download: bool = False, **kw):
            self._may_download = bool(download)
            self._split = "train" if train else "test"
            self._root = save_to
            super().__init__(save_to, train=train, **kw)

        def _check_exists(self) -> bool:
            return os.path.isfile(os.path.join(self.location_on_system, self.data_filename))

        def download(self) -> None:
            if not self._may_download:
                raise SHDNotFoundError(missing_data_message(self._root, self._split))
            super().download()

    SHD.__qualname__ = SHD.__name__ = "SHD"
    return SHD


def open_shd(
    root: Optional[str | os.PathLike], split: str, *, download: bool = False, transform=None
):
    """tonic's SHD data set of ``split`` under ``root`` (see :func:`tonic_shd_class`);
    raises :class:`SHDNotFoundError` when the file is missing and ``download`` is False."""
    if split not in FILES:
        raise ValueError(f"split must be one of {tuple(FILES)}; got {split!r}")
    if not download and not data_file(root, split).is_file():
        raise SHDNotFoundError(missing_data_message(root, split))
    return tonic_shd_class()(
        str(resolve_root(root)), train=split == "train", download=download, transform=transform
    )


class _Binned:
    """The spikes of one split as ``bin * 700 + channel`` codes (int32, dropped spikes left
    out), ``offsets`` into them per sample, and the labels."""

    def __init__(self, codes: np.ndarray, offsets: np.ndarray, labels: Tensor):
        self.codes, self.offsets, self.labels = codes, offsets, labels

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class SpikingHeidelbergDigits(ClassificationTask):
    """The SHD classification task (20 classes: digits 0-9 in English and German).

    Args (all fields):
        root: data root holding ``SHD/shd_{train,test}.h5``; default ``$HETSYN_SHD_ROOT`` or
            ``~/.cache/hetsyn/shd`` (resolved when the data are read).
        download: fetch the files (through tonic, md5-checked) when they are missing.
        bin_ms: bin width in ms (one time step).
        duration_ms: how much of each recording is used, in ms (a multiple of ``bin_ms``).
        binary: clip the spike counts per bin to 0/1.
        limit: use only the first ``limit`` samples of each split (quick runs); None for all.
        hidden: sizes of the hidden layers (the paper: 128, 64).
        recurrent: recurrent hidden layers (the paper: yes).
        tau_ms, tau_std_ms: initial synaptic time constants of the hidden layers, drawn from
            N(tau_ms, tau_std_ms) (constant when ``tau_std_ms`` is 0), in ms.
        readout_tau_ms: initial time constants of the readout, in ms.
        decision_steps: the last steps whose mean readout gives the logits; None: all steps.

    ``x``: (T, B, 700) float32 spike counts, ``T = duration_ms / bin_ms`` (250); target (B,):
    the class, int64. Training order is shuffled with the generator; test order is the
    file's.
    """

    name: ClassVar[str] = "shd"

    root: Optional[str] = None
    download: bool = False
    bin_ms: float = 4.0
    duration_ms: float = 1000.0
    binary: bool = False
    limit: Optional[int] = None
    hidden: Sequence[int] = (128, 64)
    recurrent: bool = True
    tau_ms: float = 20.0
    tau_std_ms: float = 5.0
    readout_tau_ms: float = 20.0
    decision_steps: Optional[int] = None

    def __post_init__(self) -> None:
        if self.root is not None:
            self.root = os.fspath(self.root)
        check_positive("bin_ms", self.bin_ms)
        check_positive("duration_ms", self.duration_ms)
        self._bin_us = round(self.bin_ms * 1000)
        if self._bin_us < 1 or abs(self._bin_us - self.bin_ms * 1000) > 1e-6:
            raise ValueError(f"bin_ms must be a whole number of microseconds; got {self.bin_ms!r}")
        self._steps = round(self.duration_ms / self.bin_ms)
        if self._steps < 1 or abs(self._steps * self.bin_ms - self.duration_ms) > 1e-6:
            raise ValueError(
                f"duration_ms must be a positive multiple of bin_ms={self.bin_ms}; "
                f"got {self.duration_ms!r}"
            )
        if self.limit is not None:
            check_positive_int("limit", self.limit)
        self.hidden = tuple(self.hidden)
        if not self.hidden:
            raise ValueError("hidden must name at least one hidden layer size; got ()")
        for size in self.hidden:
            check_positive_int("hidden size", size)
        check_positive("tau_ms", self.tau_ms)
        if self.tau_std_ms < 0:
            raise ValueError(f"tau_std_ms must be >= 0; got {self.tau_std_ms!r}")
        check_positive("readout_tau_ms", self.readout_tau_ms)
        if self.decision_steps is not None:
            check_positive_int("decision_steps", self.decision_steps)
        self._cache: dict[str, _Binned] = {}

    # ------------------------------------------------------------------ shape of the data

    @property
    def in_features(self) -> int:
        return N_CHANNELS

    @property
    def out_features(self) -> int:
        return N_CLASSES

    @property
    def steps(self) -> int:
        return self._steps

    # ------------------------------------------------------------------ data

    def dataset(self, split: str, transform=None):
        """tonic's SHD data set of ``split`` (events in microseconds), optionally with a tonic
        ``transform``; raises :class:`SHDNotFoundError` when the file is missing."""
        self.check_split(split)
        return open_shd(self.root, split, download=self.download, transform=transform)

    def _binned(self, split: str) -> _Binned:
        if split not in self._cache:
            ds = self.dataset(split)
            import numpy as np  # comes with tonic; imported here to keep the tasks importable

            n = len(ds) if self.limit is None else min(self.limit, len(ds))
            codes, offsets, labels = [], [0], []
            limit_us = self._steps * self._bin_us
            # read once: tonic opens the file for every sample (a few ms each)
            for i in _progress_bar()(range(n), desc=f"reading SHD {split}", disable=None,
                                     leave=False):  # fmt: skip
                events, label = ds[i]
                t, ch = events["t"], events["x"]
                keep = (t >= 0) & (t < limit_us)
                if (ch[keep] >= N_CHANNELS).any() or (ch[keep] < 0).any():
                    raise ValueError(f"SHD {split} sample {i}: channel outside 0..699")
                codes.append((t[keep] // self._bin_us * N_CHANNELS + ch[keep]).astype(np.int32))
                offsets.append(offsets[-1] + len(codes[-1]))
                labels.append(int(label))
            self._cache[split] = _Binned(
                np.concatenate(codes) if codes else np.zeros(0, np.int32),
                np.asarray(offsets, dtype=np.int64),
                torch.as_tensor(labels, dtype=torch.int64),
            )
        return self._cache[split]

    def num_samples(self, split: str) -> int:
        """Samples in ``split`` (after ``limit``)."""
        self.check_split(split)
        return len(self._binned(split))

    def frames(self, split: str, index: Sequence[int] | Tensor) -> Tensor:
        """The binned spikes of samples ``index`` of ``split``: (T, B, 700) float32."""
        import numpy as np

        data = self._binned(split)
        index = torch.as_tensor(index, dtype=torch.int64).reshape(-1).tolist()
        frame = self._steps * N_CHANNELS
        parts = [
            data.codes[data.offsets[i] : data.offsets[i + 1]].astype(np.int64) + j * frame
            for j, i in enumerate(index)
        ]
        flat = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        counts = np.bincount(flat, minlength=len(index) * frame)
        x = torch.from_numpy(counts.astype(np.float32)).view(len(index), self._steps, N_CHANNELS)
        if self.binary:
            x = x.clamp_(max=1.0)
        return x.transpose(0, 1).contiguous()

    def batches(
        self, split: str, batch_size: int, generator: torch.Generator
    ) -> Iterator[tuple[Tensor, Tensor]]:
        self.check_split(split)
        batch_size = check_positive_int("batch_size", batch_size)
        data = self._binned(split)
        n = len(data)
        order = torch.randperm(n, generator=generator) if split == "train" else torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            yield self.frames(split, idx), data.labels[idx]

    # ------------------------------------------------------------------ model

    def build_model(self, model: str, **options) -> SpikingNetwork:
        tau = self.tau_ms / self.bin_ms
        std = self.tau_std_ms / self.bin_ms
        defaults = dict(
            hidden=self.hidden,
            recurrent=self.recurrent,
            tau_syn=Normal(tau, std) if std > 0 else tau,
            readout_tau=self.readout_tau_ms / self.bin_ms,
        )
        return SpikingNetwork(
            N_CHANNELS, out_features=N_CLASSES, model=model, **{**defaults, **options}
        )
