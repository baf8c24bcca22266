"""The Heidelberg spiking data sets: spoken digits (SHD) and speech commands (SSC) as spikes of
700 cochlear channels.

Data: Cramer, Stradmann, Schemmel and Zenke, "The Heidelberg Spiking Data Sets for the
Systematic Evaluation of Spiking Neural Networks", IEEE TNNLS 2020
(https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/, CC BY 4.0). SHD: the digits
0-9 spoken in English and German (20 classes), 8156 training and 2264 test samples. SSC:
35 words of the Speech Commands corpus, with official training, validation and test files.
Read through ``tonic.datasets.SHD`` / ``tonic.datasets.SSC``.

Files: ``<root>/SHD/shd_{train,test}.h5`` and ``<root>/SSC/ssc_{train,valid,test}.h5`` (tonic's
layout, so a folder that tonic filled already works), with ``root`` the task's option, else
``$HETSYN_SHD_ROOT`` / ``$HETSYN_SSC_ROOT``, else ``~/.cache/hetsyn/shd`` / ``~/.cache/hetsyn/ssc``.
Each file holds ragged arrays ``spikes/times`` (seconds) and ``spikes/units`` (channel 0..699)
per sample, ``labels`` and ``extra/{keys,speaker}``. Nothing is downloaded unless asked
(``download=True``): tonic then fetches the zip archive, checks its md5 and unpacks it.

Encoding: the first ``duration_ms`` (1 s) of each recording in bins of ``bin_ms`` (4 ms), i.e.
``T = 250`` steps, one step per bin, so a time constant of ``tau`` steps lasts ``4 tau`` ms.
tonic gives the spike times in integer microseconds (``floor(t_s * 1e6)``). With
``bin_edges="right"`` (the paper's code) a spike at ``t`` goes into the first bin whose end is
at or after it, bin ``max(ceil(t / bin) - 1, 0)``, and spikes after ``duration_ms`` are dropped;
with ``"left"`` bins are ``[k bin, (k + 1) bin)``, bin ``floor(t / bin)``, spikes at or after
``duration_ms`` dropped: exactly what ``tonic.transforms.ToFrame(sensor_size=(700, 1, 1),
time_window=bin_us, start_time=0, end_time=duration_us)`` computes (the tests check the two
agree). The two differ only for spikes exactly on a bin edge (to the microsecond).
``x[t, b, c]`` is the number of spikes of channel ``c`` in bin ``t`` (float32), clipped to 0/1
with ``binary=True`` (the paper's). The bins are computed with one ``bincount`` per batch on
spikes read once and kept in memory as ``bin * 700 + channel`` codes.
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

from ..core.validation import check_choice, check_positive, check_positive_int
from .paper_network import PaperNetworkTask
from .training import _progress_bar

if TYPE_CHECKING:
    import numpy as np

N_CHANNELS = 700
URL = "https://zenkelab.org/datasets/"
BIN_EDGES = ("right", "left")


@dataclass(frozen=True)
class HeidelbergFiles:
    """Where one Heidelberg data set lives: its tonic class (``name``, also the folder tonic
    keeps its files in), its classes, its file per split, its root's environment variable and
    default."""

    name: str
    classes: int
    files: dict
    root_env: str
    default_root: str

    def tonic_split(self, split: str) -> dict:
        """The split argument of the tonic class."""
        if self.name == "SHD":
            return {"train": split == "train"}
        return {"split": {"validation": "valid"}.get(split, split)}


SHD_FILES = HeidelbergFiles(
    "SHD", 20, {"train": "shd_train.h5", "test": "shd_test.h5"}, "HETSYN_SHD_ROOT",
    "~/.cache/hetsyn/shd",
)  # fmt: skip
SSC_FILES = HeidelbergFiles(
    "SSC", 35, {"train": "ssc_train.h5", "validation": "ssc_valid.h5", "test": "ssc_test.h5"},
    "HETSYN_SSC_ROOT", "~/.cache/hetsyn/ssc",
)  # fmt: skip
ROOT_ENV = SHD_FILES.root_env


class DataNotFoundError(FileNotFoundError):
    """A data set's files are not where the task looks for them (and downloading was not
    asked)."""


def resolve_root(root: Optional[str | os.PathLike] = None, files: HeidelbergFiles = SHD_FILES):
    """The data root: ``root``, else the data set's environment variable, else its default."""
    if root is None:
        root = os.environ.get(files.root_env) or files.default_root
    return Path(root).expanduser()


def data_file(
    root: Optional[str | os.PathLike], split: str, files: HeidelbergFiles = SHD_FILES
) -> Path:
    """Where the HDF5 file of ``split`` is expected."""
    return resolve_root(root, files) / files.name / files.files[split]


def missing_data_message(root, split: str, files: HeidelbergFiles = SHD_FILES) -> str:
    path = data_file(root, split, files)
    name = files.files[split]
    return (
        f"the {files.name} {split} data are not at {path}. To get them, either let the task "
        f"download them (download=True, e.g. make_task({files.name.lower()!r}, download=True); "
        f"from {URL}), or download {URL}{name}.zip yourself and unzip it into {path.parent}; "
        f"or point the task at a folder that already holds {files.name}/{name} with root=... "
        f"or the environment variable {files.root_env}."
    )


@functools.lru_cache(maxsize=None)
def tonic_class(name: str = "SHD") -> type:
    """``tonic.datasets.SHD`` or ``tonic.datasets.SSC`` (``name``) with two changes, for
    reading local files honestly:

    - it counts as present when the ``.h5`` file it reads exists (tonic itself also asks for
      the downloaded ``.zip``, and would fetch the archive again when only the unzipped file
      is there);
    - it downloads only when the caller allowed it (then tonic's own download runs, which
      verifies the archive's md5 before unpacking); otherwise it raises
      :class:`DataNotFoundError`.

    The class keeps tonic's name: tonic puts the files under ``<save_to>/<class name>``.
    """
    try:
        import tonic
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"the {name} task reads the data through tonic: pip install "
            "'hetsyn-plugins[tasks]' (or pip install tonic)"
        ) from err
    files = {"SHD": SHD_FILES, "SSC": SSC_FILES}[name]
    base = getattr(tonic.datasets, name)

    class Local(base):
        def __init__(self, save_to: str, *args, download: bool = False, **kw):
            self._may_download = bool(download)
            self._root = save_to
            super().__init__(save_to, *args, **kw)

        def _check_exists(self) -> bool:
            return os.path.isfile(os.path.join(self.location_on_system, self.data_filename))

        def download(self) -> None:
            if not self._may_download:
                split = next(k for k, v in files.files.items() if v == self.data_filename)
                raise DataNotFoundError(missing_data_message(self._root, split, files))
            super().download()

    Local.__qualname__ = Local.__name__ = name
    return Local


def open_hsd(
    root: Optional[str | os.PathLike],
    split: str,
    *,
    files: HeidelbergFiles = SHD_FILES,
    download: bool = False,
    transform=None,
):
    """tonic's data set of ``split`` under ``root`` (see :func:`tonic_class`); raises
    :class:`DataNotFoundError` when the file is missing and ``download`` is False."""
    check_choice("split", split, files.files)
    if not download and not data_file(root, split, files).is_file():
        raise DataNotFoundError(missing_data_message(root, split, files))
    return tonic_class(files.name)(
        str(resolve_root(root, files)), **files.tonic_split(split), download=download,
        transform=transform,
    )  # fmt: skip


# SHD's and SSC's recordings last about a second; spike times beyond this are not seconds
LONGEST_RECORDING_S = 60.0
# what the reader (tonic) takes from a file
REQUIRED_KEYS = ("spikes/times", "spikes/units", "labels", "extra/keys", "extra/speaker")


def check_file(path: os.PathLike, classes: int, limit: Optional[int] = None) -> int:
    """Check a file of SHD's format before it is read, and return its number of samples.

    The keys of :data:`REQUIRED_KEYS`, one entry of ``spikes/times``, ``spikes/units`` and
    ``labels`` per sample;
    per sample (the first ``limit``), times finite, at least 0 and in seconds, as many units
    as times, whole channel numbers in 0..699; labels whole numbers in ``0..classes-1``.
    Raises ``ValueError`` naming the file, the sample and the field (tonic's reader would
    drop bad times silently, broadcast unequal lengths, truncate float units, or fail later
    with a bare ``KeyError`` or ``IndexError``).
    """
    import h5py
    import numpy as np

    with h5py.File(path, "r") as f:
        for key in REQUIRED_KEYS:
            if key not in f:
                raise ValueError(
                    f"{path}: no {key!r} in the file; SHD's format holds "
                    f"{', '.join(REQUIRED_KEYS)} (found: {sorted(f.keys())})"
                )
        times, units, labels = f["spikes/times"], f["spikes/units"], np.asarray(f["labels"])
        n = len(labels)
        if len(times) != n or len(units) != n:
            raise ValueError(
                f"{path}: {len(times)} entries in spikes/times, {len(units)} in spikes/units "
                f"and {n} labels; the file must hold one of each per sample"
            )
        whole = labels == np.floor(labels)
        bad = np.flatnonzero(~whole | (labels < 0) | (labels >= classes))
        if bad.size:
            raise ValueError(
                f"{path} sample {bad[0]}: label {labels[bad[0]].item()!r} is not one of the {classes} "
                f"classes 0..{classes - 1}"
            )
        m = n if limit is None else min(n, limit)
        latest = 0.0
        for i, (t, u) in enumerate(zip(times[:m], units[:m])):
            t, u = np.asarray(t, dtype=np.float64), np.asarray(u)
            where = f"{path} sample {i}"
            if len(t) != len(u):
                raise ValueError(
                    f"{where}: spikes/times has {len(t)} entries and spikes/units {len(u)}; "
                    "one unit per spike time"
                )
            if not np.isfinite(t).all() or (t < 0).any():
                first = t[~np.isfinite(t) | (t < 0)][0]
                raise ValueError(
                    f"{where}: spikes/times must be finite times of at least 0 s; got {first:g}"
                )
            if u.size and (
                (u != np.floor(u)).any() or (u < 0).any() or (u >= N_CHANNELS).any()
            ):
                first = u[(u != np.floor(u)) | (u < 0) | (u >= N_CHANNELS)][0]
                raise ValueError(
                    f"{where}: spikes/units must be whole channel numbers in "
                    f"0..{N_CHANNELS - 1}; got {first.item()!r}"
                )
            latest = max(latest, float(t.max())) if t.size else latest
        if latest > LONGEST_RECORDING_S:
            raise ValueError(
                f"{path}: spike times up to {latest:g}; SHD's format stores seconds and its "
                "recordings last about a second: are these times in milliseconds?"
            )
    return n


class _Binned:
    """The spikes of one split as ``bin * 700 + channel`` codes (int32, dropped spikes left
    out), ``offsets`` into them per sample, and the labels."""

    def __init__(self, codes: np.ndarray, offsets: np.ndarray, labels: Tensor):
        self.codes, self.offsets, self.labels = codes, offsets, labels

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: Tensor) -> "_Binned":
        """The samples ``index`` (in that order)."""
        import numpy as np

        parts = [self.codes[self.offsets[i] : self.offsets[i + 1]] for i in index.tolist()]
        offsets = np.cumsum([0] + [len(p) for p in parts]).astype(np.int64)
        codes = np.concatenate(parts) if parts else np.zeros(0, np.int32)
        return _Binned(codes, offsets, self.labels[index])


@dataclass
class SpikingHeidelbergDigits(PaperNetworkTask):
    """The SHD classification task (20 classes: digits 0-9 in English and German), by default
    with the paper's recipe (its SHD code; the facts in ``DESIGN.md``). Time constants are in
    steps: one step is one ``bin_ms`` bin (4 ms), so U(5, 20) steps is 20-80 ms.

    The network, loss, validation and recipe options are those of
    :class:`~hetsyn_plugins.tasks.paper_network.PaperNetworkTask`; the data's:

    Args:
        root: data root holding ``SHD/shd_{train,test}.h5``; default ``$HETSYN_SHD_ROOT`` or
            ``~/.cache/hetsyn/shd`` (resolved when the data are read).
        download: fetch the files (through tonic, md5-checked) when they are missing.
        bin_ms: bin width in ms (one time step; 4).
        duration_ms: how much of each recording is used, in ms (1000; a multiple of ``bin_ms``).
        binary: clip the spike counts per bin to 0/1 (True, the paper's; False: counts).
        bin_edges: ``"right"`` (the paper's: a spike goes into the first bin whose end is at or
            after it) or ``"left"`` (tonic's ``ToFrame``); see the module docstring.

    ``x``: (T, B, 700) float32 spikes, ``T = duration_ms / bin_ms`` (250); target (B,): the
    class, int64. Training order is shuffled with the generator; test order is the file's.
    """

    name: ClassVar[str] = "shd"
    files: ClassVar[HeidelbergFiles] = SHD_FILES

    root: Optional[str] = None
    download: bool = False
    bin_ms: float = 4.0
    duration_ms: float = 1000.0
    binary: bool = True
    bin_edges: str = "right"

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
        check_choice("bin_edges", self.bin_edges, BIN_EDGES)
        self._check_network_options()
        self._cache: dict[str, _Binned] = {}

    # ------------------------------------------------------------------ shape of the data

    @property
    def in_features(self) -> int:
        return N_CHANNELS

    @property
    def out_features(self) -> int:
        return self.files.classes

    @property
    def steps(self) -> int:
        return self._steps

    # ------------------------------------------------------------------ data

    def dataset(self, split: str, transform=None):
        """tonic's data set of the file of ``split`` (events in microseconds), optionally
        with a tonic ``transform``; raises :class:`DataNotFoundError` when it is missing."""
        check_choice("split", split, self.files.files)
        return open_hsd(
            self.root, split, files=self.files, download=self.download, transform=transform
        )

    def _read(self, split: str) -> _Binned:
        """The binned spikes of the file of ``split`` (read once)."""
        key = f"file:{split}"
        if key not in self._cache:
            import numpy as np  # comes with tonic; imported here to keep the tasks importable

            path = data_file(self.root, split, self.files)
            n = check_file(path, self.files.classes, self.limit) if path.is_file() else None
            ds = self.dataset(split)  # DataNotFoundError, or a download, where it is missing
            if n is None:
                n = check_file(path, self.files.classes, self.limit)
            n = n if self.limit is None else min(self.limit, n)
            codes, offsets, labels = [], [0], []
            limit_us = self._steps * self._bin_us
            # read once: tonic opens the file for every sample (a few ms each)
            for i in _progress_bar()(range(n), desc=f"reading {self.files.name} {split}",
                                     disable=None, leave=False):  # fmt: skip
                events, label = ds[i]
                t, ch = events["t"], events["x"]
                if self.bin_edges == "right":  # the first bin whose end is >= t
                    keep = (t >= 0) & (t <= limit_us)
                    bins = np.maximum(-(-t[keep] // self._bin_us) - 1, 0)
                else:
                    keep = (t >= 0) & (t < limit_us)
                    bins = t[keep] // self._bin_us
                codes.append((bins * N_CHANNELS + ch[keep]).astype(np.int32))
                offsets.append(offsets[-1] + len(codes[-1]))
                labels.append(int(label))
            self._cache[key] = _Binned(
                np.concatenate(codes) if codes else np.zeros(0, np.int32),
                np.asarray(offsets, dtype=np.int64),
                torch.as_tensor(labels, dtype=torch.int64),
            )
        return self._cache[key]

    def _binned(self, split: str) -> _Binned:
        self.check_split(split)
        if not self.validation_fraction or split == "test":  # a split of its own file
            return self._read(split)
        if split not in self._cache:  # a seeded hold-out of the training file
            data = self._read("train")
            train, validation = self.holdout(len(data))
            self._cache["validation"] = data.subset(validation)
            self._cache["train"] = data.subset(train)
        return self._cache[split]

    def num_samples(self, split: str) -> int:
        """Samples in ``split`` (after ``limit`` and the validation hold-out)."""
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
        batch_size = check_positive_int("batch_size", batch_size)
        data = self._binned(split)
        n = len(data)
        order = torch.randperm(n, generator=generator) if split == "train" else torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            yield self.frames(split, idx), data.labels[idx]


@dataclass
class SpikingSpeechCommands(SpikingHeidelbergDigits):
    """The SSC classification task (35 spoken commands), with the SHD recipe. Its validation
    split is the data set's own file (``ssc_valid.h5``), so ``validation_fraction`` must stay
    0. Files: ``<root>/SSC/ssc_{train,valid,test}.h5``, root default ``$HETSYN_SSC_ROOT`` or
    ``~/.cache/hetsyn/ssc``. Every other option as :class:`SpikingHeidelbergDigits`."""

    name: ClassVar[str] = "ssc"
    files: ClassVar[HeidelbergFiles] = SSC_FILES

    def __post_init__(self) -> None:
        if self.validation_fraction:
            raise ValueError(
                "validation_fraction must be 0 for SSC: its validation split is the data set's "
                f"own file (ssc_valid.h5); got {self.validation_fraction!r}"
            )
        super().__post_init__()

    @property
    def has_validation(self) -> bool:
        return True
