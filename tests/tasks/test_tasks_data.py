"""The data-set tasks: SHD (through tonic, on small files written here in SHD's format, since
the tests run offline) and the sequential 8x8 digits of scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

h5py = pytest.importorskip("h5py")
pytest.importorskip("tonic")
pytest.importorskip("sklearn")

from hetsyn_plugins.core import PRESETS, clamp_decays_after_step  # noqa: E402
from hetsyn_plugins.tasks import TASKS, make_task  # noqa: E402
from hetsyn_plugins.tasks.digits import SequentialDigits, load_digit_images  # noqa: E402
from hetsyn_plugins.tasks.shd import (  # noqa: E402
    ROOT_ENV,
    DataNotFoundError,
    SpikingHeidelbergDigits,
    data_file,
)

MODELS = tuple(PRESETS)

# --------------------------------------------------------------------------- SHD files


def write_shd(root, split, samples, files=None):
    """Write ``samples`` [(times in s, units, label), ...] as ``<root>/SHD/shd_<split>.h5`` in
    the layout of the published files: ragged float16 ``spikes/times`` (seconds) and uint16
    ``spikes/units``, uint16 ``labels``, ``extra/keys`` (class names), ``extra/speaker`` and
    ``extra/meta_info``. No ``.zip`` is written: the loader must find the ``.h5`` alone."""
    path = data_file(root, split) if files is None else data_file(root, split, files)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(samples)
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float16))
        units = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u, _) in enumerate(samples):
            times[i] = np.asarray(t, dtype=np.float16)
            units[i] = np.asarray(u, dtype=np.uint16)
        f.create_dataset("labels", data=np.array([s[2] for s in samples], dtype=np.uint16))
        keys = [f"{lang}-{d}".encode() for lang in ("english", "german") for d in range(10)]
        f.create_dataset("extra/keys", data=np.array(keys))
        f.create_dataset("extra/speaker", data=np.arange(n, dtype=np.uint16) % 10)
        for name in ("gender", "age", "body_height"):
            f.create_dataset(f"extra/meta_info/{name}", data=np.zeros(10, dtype=np.uint16))
    return path


# Spike times chosen to be exact in float16, so that their microseconds are known:
# 2**-8 s = 3906.25 us -> bin 0 (just below the 4000 us edge), 2**-7 s = 7812.5 us -> bin 1,
# 0.25 s -> bin 62, 0.5 s = 125 bins exactly: bin 124 with right-closed bins (the paper's, the
# first bin whose end is >= t), 125 with tonic's left-closed ones; 1 - 2**-11 s = 999511.7 us
# -> bin 249; 1 s: the end of bin 249 (kept by right-closed bins only); 1.25 s: dropped.
KNOWN = [
    # (time s, channel, expected bin right-closed, left-closed; None when dropped)
    (0.0, 0, 0, 0),
    (2.0**-8, 5, 0, 0),
    (2.0**-7, 5, 1, 1),
    (0.25, 699, 62, 62),
    (0.25, 699, 62, 62),
    (0.5, 10, 124, 125),
    (1 - 2.0**-11, 3, 249, 249),
    (1.0, 4, 249, None),
    (1.25, 4, None, None),
]


def class_pattern_samples(n, seed, n_classes=20, spikes=300):
    """Random sorted spikes whose channels depend on the class (a learnable signal)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = i % n_classes
        t = np.sort(rng.uniform(0, 1.1, spikes))
        block = 700 // n_classes
        u = np.where(
            rng.random(spikes) < 0.7,
            label * block + rng.integers(0, block, spikes),
            rng.integers(0, 700, spikes),
        )
        out.append((t, u, label))
    return out


@pytest.fixture
def shd_root(tmp_path):
    known = ([k[0] for k in KNOWN], [k[1] for k in KNOWN], 7)
    write_shd(tmp_path, "train", [known] + class_pattern_samples(6, seed=1))
    write_shd(tmp_path, "test", [known] + class_pattern_samples(4, seed=2) + [([], [], 19)])
    return tmp_path


def test_shd_is_registered():
    assert TASKS["shd"] is SpikingHeidelbergDigits
    assert TASKS["digits"] is SequentialDigits


@pytest.mark.parametrize("edges", ["right", "left"])
def test_shd_bins_known_spikes_into_known_bins(shd_root, edges):
    task = SpikingHeidelbergDigits(root=str(shd_root), binary=False, bin_edges=edges)
    assert (task.steps, task.in_features, task.out_features) == (250, 700, 20)
    x, target = next(task.batches("test", 1, torch.Generator()))
    assert x.shape == (250, 1, 700) and x.dtype == torch.float32
    assert target.tolist() == [7] and target.dtype == torch.int64
    expected = torch.zeros(250, 700)
    for _, channel, right, left in KNOWN:
        step = right if edges == "right" else left
        if step is not None:
            expected[step, channel] += 1
    assert torch.equal(x[:, 0], expected)
    assert x.sum() == (8 if edges == "right" else 7)  # 1.25 s dropped; 1 s kept by "right"
    assert x[62, 0, 699] == 2

    binary = SpikingHeidelbergDigits(root=str(shd_root), bin_edges=edges)  # binary by default
    xb, _ = next(binary.batches("test", 1, torch.Generator()))
    assert torch.equal(xb[:, 0], expected.clamp(max=1))

    coarse = SpikingHeidelbergDigits(
        root=str(shd_root), bin_ms=10.0, duration_ms=500.0, binary=False, bin_edges=edges
    )
    xc, _ = next(coarse.batches("test", 1, torch.Generator()))
    assert xc.shape == (50, 1, 700)
    # 0, 3.9 and 7.8 ms share the first 10 ms bin; 0.25 s -> bin 24 (right) / 25 (left: on
    # the edge); 0.5 s: the end of bin 49 (right), dropped (left); later spikes dropped
    on_edge = 24 if edges == "right" else 25
    assert (xc[0, 0, 0], xc[0, 0, 5], xc[on_edge, 0, 699]) == (1, 2, 2)
    assert xc.sum() == (6 if edges == "right" else 5)


def test_shd_matches_tonic_to_frame(shd_root):
    from tonic.transforms import ToFrame

    task = SpikingHeidelbergDigits(root=str(shd_root), binary=False, bin_edges="left")
    to_frame = ToFrame(
        sensor_size=(700, 1, 1), time_window=4000, start_time=0, end_time=1_000_000
    )
    ds = task.dataset("test", transform=to_frame)
    x = task.frames("test", range(5))
    for i in range(5):
        frames, label = ds[i]
        assert frames.shape == (250, 1, 700)
        assert torch.equal(x[:, i], torch.as_tensor(frames[:, 0], dtype=torch.float32))
        assert x[:, i].sum() > 0


def test_shd_batches_shapes_labels_and_order(shd_root):
    task = SpikingHeidelbergDigits(root=str(shd_root))
    assert task.num_samples("train") == 7 and task.num_samples("test") == 6
    test = [(x, y) for x, y in task.batches("test", 4, torch.Generator())]
    assert [x.shape for x, _ in test] == [(250, 4, 700), (250, 2, 700)]
    labels = torch.cat([y for _, y in test]).tolist()
    assert labels == [7, 0, 1, 2, 3, 19]  # file order
    assert test[1][0][:, 1].sum() == 0  # the empty recording
    again = torch.cat([x for x, _ in task.batches("test", 4, torch.Generator().manual_seed(5))], 1)
    assert torch.equal(again, torch.cat([x for x, _ in test], 1))

    def train_order(seed):
        batches = list(task.batches("train", 3, torch.Generator().manual_seed(seed)))
        return torch.cat([x for x, _ in batches], 1), torch.cat([y for _, y in batches])

    x1, y1 = train_order(0)
    x2, y2 = train_order(0)
    x3, y3 = train_order(1)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert sorted(y1.tolist()) == sorted([7, 0, 1, 2, 3, 4, 5])
    assert not torch.equal(y1, y3)
    # the same sample travels with its label
    ref = {y: task.frames("train", [i])[:, 0] for i, y in enumerate([7, 0, 1, 2, 3, 4, 5])}
    for b, y in enumerate(y3.tolist()):
        assert torch.equal(x3[:, b], ref[y])

    limited = SpikingHeidelbergDigits(root=str(shd_root), limit=3)
    assert limited.num_samples("train") == 3 and limited.num_samples("test") == 3


def test_shd_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    task = SpikingHeidelbergDigits(root=str(tmp_path / "nowhere"))
    with pytest.raises(DataNotFoundError) as err:
        next(task.batches("train", 4, torch.Generator()))
    message = str(err.value)
    expected = tmp_path / "nowhere" / "SHD" / "shd_train.h5"
    assert str(expected) in message
    assert "download=True" in message and "shd_train.h5.zip" in message
    assert ROOT_ENV in message
    assert not expected.parent.exists() or not any(expected.parent.iterdir())

    # the default root comes from the environment variable
    write_shd(tmp_path / "env", "test", class_pattern_samples(2, seed=0))
    monkeypatch.setenv(ROOT_ENV, str(tmp_path / "env"))
    task = make_task("shd")
    assert task.num_samples("test") == 2
    with pytest.raises(DataNotFoundError, match="shd_train.h5"):
        task.num_samples("train")


def test_shd_reads_the_h5_alone_and_downloads_only_when_asked(tmp_path, monkeypatch):
    import tonic

    from hetsyn_plugins.tasks.shd import tonic_class

    write_shd(tmp_path, "test", class_pattern_samples(2, seed=0))
    ds = tonic_class("SHD")(str(tmp_path), train=False)
    assert len(ds) == 2 and ds.location_on_system == str(tmp_path / "SHD")
    # tonic's own check also wants the .zip: it would fetch the archive again
    assert not tonic.datasets.SHD._check_exists(ds)

    # missing file: the subclass refuses to download unless allowed
    calls = []

    def fake_download(self):  # stands in for tonic's (md5-checked) download, offline
        calls.append(self.url)
        write_shd(tmp_path, "train", class_pattern_samples(3, seed=0))

    monkeypatch.setattr(tonic.datasets.SHD, "download", fake_download)
    with pytest.raises(DataNotFoundError, match="download=True"):
        tonic_class("SHD")(str(tmp_path), train=True, download=False)
    assert calls == []
    task = SpikingHeidelbergDigits(root=str(tmp_path), download=True)
    assert task.num_samples("train") == 3
    assert calls == ["https://zenkelab.org/datasets/shd_train.h5.zip"]


def test_shd_rejects_bad_options():
    with pytest.raises(ValueError, match="multiple of bin_ms"):
        SpikingHeidelbergDigits(bin_ms=3.0, duration_ms=1000.0)
    with pytest.raises(ValueError, match="limit"):
        SpikingHeidelbergDigits(limit=0)
    with pytest.raises(ValueError, match="split"):
        next(SpikingHeidelbergDigits().batches("valid", 4, torch.Generator()))


def test_shd_config_rebuilds_the_task(shd_root):
    task = SpikingHeidelbergDigits(root=str(shd_root), hidden=[16, 8], limit=3)
    config = task.config()
    assert config["hidden"] == (16, 8) and config["root"] == str(shd_root)
    assert type(task)(**config) == task


# --------------------------------------------------------------------------- training


def loss_drops(task, model, x, y, steps, lr, **options):
    """Loss on one fixed batch before and after ``steps`` Adam steps on it (decays learned
    directly are clamped after each step, as training does)."""
    torch.manual_seed(0)
    net = task.build_model(model, **options)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    clamp_decays_after_step(opt, net)
    with torch.no_grad():
        before = task.loss(net(x), y).item()
    for _ in range(steps):
        opt.zero_grad()
        task.loss(net(x), y).backward()
        opt.step()
    with torch.no_grad():
        after = task.loss(net(x), y).item()
    return before, after


@pytest.mark.parametrize("model", MODELS)
def test_shd_models_train(shd_root, model):
    task = SpikingHeidelbergDigits(root=str(shd_root), duration_ms=200.0)
    x, y = next(task.batches("train", 8, torch.Generator().manual_seed(0)))
    assert x.shape == (50, 7, 700)
    before, after = loss_drops(task, model, x, y, steps=16, lr=5e-3)  # the paper's recipe
    assert after < 0.75 * before, (before, after)


# --------------------------------------------------------------------------- digits


def test_digits_split_and_shapes():
    task = SequentialDigits()
    assert (task.steps, task.in_features, task.out_features) == (32, 8, 10)
    assert task.decision_steps == 4
    train_images, train_labels = task.split_images("train")
    test_images, test_labels = task.split_images("test")
    assert (len(train_labels), len(test_labels)) == (1348, 449)
    all_images, _ = load_digit_images()
    assert all_images.shape == (1797, 8, 8) and 0 <= all_images.min() and all_images.max() == 1
    # a fixed split: another instance with the same seed agrees, another seed does not
    assert torch.equal(SequentialDigits().split_images("test")[1], test_labels)
    assert not torch.equal(SequentialDigits(seed=1).split_images("test")[1], test_labels)
    assert set(test_labels.tolist()) == set(range(10))

    batches = list(task.batches("test", 200, torch.Generator()))
    assert [tuple(x.shape) for x, _ in batches] == [(32, 200, 8), (32, 200, 8), (32, 49, 8)]
    x = torch.cat([x for x, _ in batches], 1)
    assert x.dtype == torch.float32 and set(x.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(torch.cat([y for _, y in batches]), test_labels)
    # the test spikes are the same on every pass, whatever the generator
    other = torch.Generator().manual_seed(3)
    again = torch.cat([x for x, _ in task.batches("test", 449, other)], 1)
    assert torch.equal(again, x)


def test_digits_row_by_row_encoding():
    task = SequentialDigits(steps_per_row=3)
    images, _ = task.split_images("train")
    images = images[:64]
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([task.encode(images, g) for _ in range(400)])  # (draws, T, B, 8)
    assert draws.shape == (400, 24, 64, 8)
    pixel = images.permute(1, 0, 2).repeat_interleave(3, dim=0)  # (T, B, 8): row t // 3
    assert (draws[:, pixel == 0] == 0).all()  # dark pixels never spike
    assert (draws[:, pixel == 1] == 1).all()  # full-intensity pixels always spike
    assert torch.allclose(draws.mean(0), pixel, atol=0.1)  # rate = intensity


def test_digits_training_order_is_shuffled_by_the_generator():
    task = SequentialDigits(limit=40)

    def labels(seed):
        generator = torch.Generator().manual_seed(seed)
        return torch.cat([y for _, y in task.batches("train", 16, generator)])

    assert torch.equal(labels(0), labels(0))
    assert not torch.equal(labels(0), labels(1))
    assert sorted(labels(0).tolist()) == sorted(task.split_images("train")[1].tolist())


def test_digits_rejects_bad_options():
    with pytest.raises(ValueError, match="steps_per_row"):
        SequentialDigits(steps_per_row=0)
    with pytest.raises(ValueError, match="test_fraction"):
        SequentialDigits(test_fraction=1.0)
    with pytest.raises(ValueError, match="decision_steps"):
        SequentialDigits(steps_per_row=2, decision_steps=17)
    with pytest.raises(TypeError, match="bad option"):
        make_task("digits", rows=3)


def test_digits_config_rebuilds_the_task():
    task = SequentialDigits(steps_per_row=2, hidden=16, limit=10)
    config = task.config()
    assert config["decision_steps"] == 2 and config["hidden"] == 16
    rebuilt = type(task)(**config)
    assert rebuilt == task
    assert torch.equal(rebuilt.test_spikes(), task.test_spikes())


@pytest.mark.parametrize("model", MODELS)
def test_digits_models_train(model):
    task = SequentialDigits(limit=64)
    x, y = next(task.batches("train", 64, torch.Generator().manual_seed(0)))
    before, after = loss_drops(task, model, x, y, steps=15, lr=1e-2)
    assert after < 0.7 * before, (before, after)


# ------------------------------------------------------------------ the SHD recipe, end to end


def test_shd_recipe_trains_end_to_end_with_a_validation_split(shd_root, tmp_path):
    from hetsyn_plugins.tasks.training import load_checkpoint, read_config, train

    extra = class_pattern_samples(13, seed=3)  # 20 training samples in all
    write_shd(shd_root, "train", [([0.0], [0], 7)] + class_pattern_samples(6, seed=1) + extra)
    task = make_task("shd", root=str(shd_root), hidden=(8, 6), duration_ms=200.0,
                     validation_fraction=0.25)  # fmt: skip
    assert task.has_validation
    assert (task.num_samples("train"), task.num_samples("validation")) == (15, 5)
    ids = lambda split: {  # noqa: E731  (each sample's spikes identify it)
        tuple(task.frames(split, [i]).flatten().nonzero().flatten().tolist())
        for i in range(task.num_samples(split))
    }
    assert not ids("train") & ids("validation")
    again = make_task("shd", root=str(shd_root), hidden=(8, 6), duration_ms=200.0,
                      validation_fraction=0.25)  # fmt: skip
    assert ids("validation") == {  # the same seeded hold-out
        tuple(again.frames("validation", [i]).flatten().nonzero().flatten().tolist())
        for i in range(5)
    }
    result = train(task, "HetSynLIF", epochs=3, batch_size=8, eval_every="epoch", progress=False,
                   checkpoint=tmp_path / "run")  # fmt: skip
    assert result.steps == 6  # 3 epochs of 2 batches
    evaluated = [r for r in result.history if "test_metric" in r]
    assert [r["step"] for r in evaluated] == [2, 4, 6]
    assert all("val_metric" in r for r in evaluated)
    best = result.best
    assert best["best_test"]["test_metric"] == max(r["test_metric"] for r in evaluated)
    at_val = best["at_best_validation"]
    top_val = max(r["val_metric"] for r in evaluated)
    chosen = next(r for r in evaluated if r["val_metric"] == top_val)  # the first of the best
    assert (at_val["step"], at_val["test_metric"]) == (chosen["step"], chosen["test_metric"])
    config = read_config(tmp_path / "run")
    assert config["best"] == best
    assert config["training"]["optimizer"] == "adamw" and config["training"]["epochs"] == 3
    lrs = [g["lr"] for g in torch.load(tmp_path / "run" / "state.pt")["optimizer"]["param_groups"]]
    # step 6 of 6 (2 per epoch): warm-up 0.3 steps, then the cosine towards step 80 (40 epochs)
    f = 0.0068 + (1 - 0.0068) * 0.5 * (1 + math.cos(math.pi * (6 - 0.3) / (80 - 0.3)))
    assert sorted(lrs) == pytest.approx([2e-3 * f, 4e-3 * f])
    net, task2, _ = load_checkpoint(tmp_path / "run")
    assert task2 == task and isinstance(net.hidden[0].spike_fn, type(task.build_model(
        "HetSynLIF").hidden[0].spike_fn))  # fmt: skip
    with pytest.raises(ValueError, match="validation"):
        next(make_task("shd", root=str(shd_root)).batches("validation", 4, torch.Generator()))


# --------------------------------------------------------------------------- SSC


def write_ssc(root, split, samples):
    """SSC's files have SHD's layout, under ``<root>/SSC/ssc_<split>.h5`` (35 classes)."""
    from hetsyn_plugins.tasks.shd import SSC_FILES

    return write_shd(root, split, samples, SSC_FILES)


def test_ssc_reads_its_three_files_through_tonic(tmp_path):
    from hetsyn_plugins.tasks import SpikingSpeechCommands

    samples = lambda n, seed: [  # noqa: E731
        (t, u, (lbl * 7 + seed) % 35) for t, u, lbl in class_pattern_samples(n, seed)
    ]
    write_ssc(tmp_path, "train", samples(5, 0))
    write_ssc(tmp_path, "validation", samples(3, 1))
    write_ssc(tmp_path, "test", samples(4, 2))
    assert (tmp_path / "SSC" / "ssc_valid.h5").is_file()
    task = make_task("ssc", root=str(tmp_path), hidden=(6,), duration_ms=200.0)
    assert isinstance(task, SpikingSpeechCommands) and task.out_features == 35
    assert task.has_validation and task.recipe() == make_task("shd").recipe()
    counts = [task.num_samples(s) for s in ("train", "validation", "test")]
    assert counts == [5, 3, 4]
    x, y = next(task.batches("validation", 8, torch.Generator()))
    assert x.shape == (50, 3, 700) and y.tolist() == [s[2] for s in samples(3, 1)]
    net = task.build_model("HetSynLIF")
    assert net(x).readout.shape == (50, 3, 35)
    with pytest.raises(ValueError, match="validation_fraction must be 0 for SSC"):
        make_task("ssc", validation_fraction=0.1)
    with pytest.raises(DataNotFoundError, match="ssc_train.h5"):
        make_task("ssc", root=str(tmp_path / "none")).num_samples("train")


# --------------------------------------------------------------------------- (P)S-MNIST


def write_idx(path, array):
    """``array`` (uint8) as an IDX file (gzipped when the name ends in .gz)."""
    import gzip

    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    data = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    (gzip.open if path.suffix == ".gz" else open)(path, "wb").write(data)


@pytest.fixture
def mnist_root(tmp_path):
    rng = np.random.default_rng(0)
    raw = tmp_path / "MNIST" / "raw"
    for split, n, gz in (("train", 12, ".gz"), ("t10k", 5, "")):
        images = rng.integers(0, 256, (n, 28, 28))
        images[:, 0, 0] = np.arange(n)  # the first pixel tells the images apart
        write_idx(raw / f"{split}-images-idx3-ubyte{gz}", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte{gz}", np.arange(n) % 10)
    return tmp_path


def test_smnist_reads_idx_files_pixel_by_pixel(mnist_root):
    from hetsyn_plugins.tasks.mnist import load_mnist, read_idx

    images, labels = load_mnist(mnist_root, "train")
    assert images.shape == (12, 28, 28) and labels.tolist() == [i % 10 for i in range(12)]
    assert images.dtype == torch.uint8 and labels.dtype == torch.int64
    task = make_task("smnist", root=str(mnist_root), hidden=(8,))
    assert (task.steps, task.in_features, task.out_features) == (784, 1, 10)
    x, y = next(task.batches("test", 5, torch.Generator()))
    test_images, test_labels = load_mnist(mnist_root, "test")
    assert x.shape == (784, 5, 1) and torch.equal(y, test_labels)
    assert torch.equal(x[:, :, 0], test_images.reshape(5, 784).float().t() / 255)  # row by row
    perm = make_task("psmnist", root=str(mnist_root), hidden=(8,), permutation_seed=3)
    xp, _ = next(perm.batches("test", 5, torch.Generator()))
    order = torch.randperm(784, generator=torch.Generator().manual_seed(3))
    assert torch.equal(xp[:, :, 0], x[order, :, 0]) and not torch.equal(xp, x)
    spikes = make_task("smnist", root=str(mnist_root), hidden=(8,), encoding="spikes")
    xs, _ = next(spikes.batches("test", 5, torch.Generator()))
    assert set(xs.unique().tolist()) <= {0.0, 1.0}
    xs2, _ = next(spikes.batches("test", 5, torch.Generator().manual_seed(9)))
    assert torch.equal(xs, xs2)  # the test set's spikes are fixed
    held = make_task("smnist", root=str(mnist_root), hidden=(8,), validation_fraction=0.25)
    assert (held.num_samples("train"), held.num_samples("validation")) == (9, 3)
    net = task.build_model("HetSynLIF")
    assert net(x[:40]).readout.shape == (40, 5, 10)
    with pytest.raises(ValueError, match="not an IDX file"):
        bad = mnist_root / "bad"
        bad.write_bytes(b"\x01\x02\x03\x04")
        read_idx(bad)
    with pytest.raises(DataNotFoundError, match="download=True"):
        make_task("smnist", root=str(mnist_root / "none")).num_samples("train")
    with pytest.raises(ValueError, match="encoding"):
        make_task("smnist", encoding="rate")


# --------------------------------------------------------------------------- malformed files


def _write_raw(root, split, times, units, labels, *, units_dtype=np.uint16, drop=()):
    """An SHD-format file with whatever is given (ragged ``times`` / ``units`` per sample),
    leaving out the keys in ``drop``."""
    path = data_file(root, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        if "spikes/times" not in drop:
            t = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.float32))
            for i, v in enumerate(times):
                t[i] = np.asarray(v, dtype=np.float32)
        if "spikes/units" not in drop:
            u = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(units_dtype))
            for i, v in enumerate(units):
                u[i] = np.asarray(v, dtype=units_dtype)
        if "labels" not in drop:
            f.create_dataset("labels", data=np.asarray(labels))
        f.create_dataset("extra/keys", data=np.array([b"k"] * 20))
        f.create_dataset("extra/speaker", data=np.zeros(len(labels), dtype=np.uint16))
    return path


GOOD = ([0.1, 0.2], [3, 4])


@pytest.mark.parametrize(
    "times, units, labels, options, match",
    [
        ([GOOD[0], [0.1, -0.2]], [GOOD[1], [1, 2]], [0, 1], {},
         r"sample 1: spikes/times must be finite times of at least 0 s; got -0\.2"),
        ([GOOD[0], [float("nan")]], [GOOD[1], [1]], [0, 1], {}, "sample 1: spikes/times.*nan"),
        ([GOOD[0], [100.0, 950.0]], [GOOD[1], [1, 2]], [0, 1], {},
         "spike times up to 950; .* are these times in milliseconds"),
        ([GOOD[0], [0.1, 0.2, 0.3]], [GOOD[1], [1, 2]], [0, 1], {},
         "sample 1: spikes/times has 3 entries and spikes/units 2"),
        ([GOOD[0], [0.1]], [GOOD[1], [3.5]], [0, 1], {"units_dtype": np.float32},
         r"sample 1: spikes/units must be whole channel numbers in 0\.\.699; got 3\.5"),
        ([GOOD[0], [0.1]], [GOOD[1], [700]], [0, 1], {},
         r"sample 1: spikes/units must be whole channel numbers in 0\.\.699; got 700"),
        ([GOOD[0]], [GOOD[1]], [25], {}, "sample 0: label 25 is not one of the 20 classes"),
        ([GOOD[0]], [GOOD[1]], [0], {"drop": ("labels",)}, "no 'labels' in the file"),
        ([GOOD[0]], [GOOD[1], GOOD[1]], [0], {},
         "1 entries in spikes/times, 2 in spikes/units and 1 labels"),
    ],
)  # fmt: skip
def test_malformed_shd_files_name_the_file_the_sample_and_the_field(
    tmp_path, times, units, labels, options, match
):
    path = _write_raw(tmp_path, "train", times, units, labels, **options)
    task = SpikingHeidelbergDigits(root=str(tmp_path))
    with pytest.raises(ValueError, match=match) as err:
        task.num_samples("train")
    assert str(path) in str(err.value)


def test_a_run_reads_every_file_it_needs_before_its_first_step(tmp_path):
    from hetsyn_plugins.tasks.training import train

    write_shd(tmp_path, "train", class_pattern_samples(4, seed=1))  # no test file
    out = tmp_path / "run"
    task = SpikingHeidelbergDigits(root=str(tmp_path), hidden=(4,))
    with pytest.raises(DataNotFoundError, match="shd_test.h5"):
        train(task, "HomNeuLIF", steps=2, batch_size=2, checkpoint=out)
    assert not out.exists() or not any(out.iterdir())  # nothing trained, nothing saved


def test_an_empty_training_file_is_refused_instead_of_looping(tmp_path):
    from hetsyn_plugins.tasks.training import train

    write_shd(tmp_path, "train", [])
    write_shd(tmp_path, "test", class_pattern_samples(2, seed=2))
    task = SpikingHeidelbergDigits(root=str(tmp_path), hidden=(4,))
    with pytest.raises(ValueError, match="the train split has no samples"):
        train(task, "HomNeuLIF", steps=3, batch_size=2)


@pytest.mark.parametrize("stop_at", [2, 4])
def test_resume_mid_epoch_with_dropout_equals_an_uninterrupted_run(tmp_path, monkeypatch, stop_at):
    """SHD's recipe reshuffles the training set every epoch and drops spikes out (torch's
    global generator); 7 samples in batches of 3 end every epoch with a shorter batch. A run
    stopped mid-epoch (Ctrl-C, saved after the step) and resumed gives the final weights of
    a run never stopped."""
    import os
    import signal

    from hetsyn_plugins.tasks.training import train

    write_shd(tmp_path, "train", class_pattern_samples(7, seed=1))
    write_shd(tmp_path, "test", class_pattern_samples(2, seed=2))
    task = SpikingHeidelbergDigits(root=str(tmp_path), hidden=(6,), dropout=0.3)
    assert task.dropout > 0 and task.steps_per_epoch(3) == 3
    options = dict(steps=7, batch_size=3, lr=1e-2, seed=5, progress=False)
    full = train(task, "HomNeuLIF", **options)

    loss, calls = task.loss, []

    def loss_then_ctrl_c(*args):
        calls.append(1)
        if len(calls) == stop_at:
            os.kill(os.getpid(), signal.SIGINT)
        return loss(*args)

    monkeypatch.setattr(task, "loss", loss_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt, match=f"interrupted after step {stop_at}"):
        train(task, "HomNeuLIF", checkpoint=tmp_path / "run", **options)
    monkeypatch.setattr(task, "loss", loss)
    torch.manual_seed(123)  # the global generator is restored from the checkpoint
    resumed = train(task, "HomNeuLIF", checkpoint=tmp_path / "run", resume=True, **options)
    assert [r["step"] for r in resumed.history] == list(range(1, 8))
    for (name, a), b in zip(full.net.state_dict().items(), resumed.net.state_dict().values()):
        assert torch.equal(a, b), name
