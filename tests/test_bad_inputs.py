"""Inputs that used to die badly (silent-results issue, items 10, 11, 13): sparse and
meta-device inputs, a tuple as state, an unbatched input into snnTorch's face, a list for a
number in ``hetsyn train --set``, and Ctrl-C during ``hetsyn train``."""

from __future__ import annotations

import pytest
import torch

from hetsyn_plugins import cli
from hetsyn_plugins.core import HetSynLIF

snn = pytest.importorskip("snntorch")
pytest.importorskip("spikingjelly.activation_based")

from hetsyn_plugins.adapters.snntorch import HetSynLeaky, HetSynLI  # noqa: E402
from hetsyn_plugins.adapters.spikingjelly import HetSynNode  # noqa: E402


@pytest.mark.parametrize(
    "face", [lambda: HetSynLIF(4, 3), lambda: HetSynLeaky(4, 3, beta=0.9), lambda: HetSynNode(4, 3)],
)
def test_sparse_and_meta_inputs_are_refused_by_name(face):
    layer = face()
    with pytest.raises(TypeError, match="must be a dense .strided. tensor; got layout"):
        layer(torch.rand(5, 2, 4).to_sparse())
    with pytest.raises(ValueError, match="is on the meta device"):
        layer(torch.rand(5, 2, 4, device="meta"))


def test_a_tuple_as_state_is_refused_by_name():
    layer = HetSynLIF(4, 3)
    with pytest.raises(TypeError, match="state must be a HetSynState; got tuple"):
        layer.step(torch.rand(2, 4), (torch.zeros(2, 3), torch.zeros(2, 3)))
    with pytest.raises(TypeError, match="state must be a HetSynState; got tuple"):
        layer.run(torch.rand(5, 2, 4), (torch.zeros(2, 3),))


@pytest.mark.parametrize("cls", [HetSynLeaky, HetSynLI])
def test_an_unbatched_input_is_one_step_of_one_sample(cls):
    """As ``nn.Linear`` takes (in,): output (out,), equal to the (1, in) step."""
    torch.manual_seed(0)
    layer = cls(4, 3, beta=0.9)
    x = torch.rand(5, 4) * 2
    batched = cls(4, 3, beta=0.9)
    batched.load_state_dict(layer.state_dict())
    for x_t in x:
        out = layer(x_t)
        ref = batched(x_t[None])
        out, ref = (out, ref) if isinstance(out, tuple) else ((out,), (ref,))
        for a, b in zip(out, ref):
            assert a.shape == (3,) and torch.equal(a, b[0])


def test_a_list_for_a_number_names_the_task_option(capsys, tmp_path):
    from hetsyn_plugins.tasks import make_task

    with pytest.raises(TypeError, match=r"option delay_ms must be float; got \[1, 2\] \(list\)"):
        make_task("dms", delay_ms=[1, 2])
    argv = ["train", "--task", "dms", "--model", "HetSynLIF", "--out", str(tmp_path)]
    code = cli.main([*argv, "--set", "delay_ms=[1,2]"])
    assert code == 1 and "option delay_ms must be float" in capsys.readouterr().err


def test_ctrl_c_during_train_says_where_it_saved_and_exits_130(monkeypatch, tmp_path, capsys):
    from hetsyn_plugins.tasks import training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt(f"interrupted after step 3; saved to {str(tmp_path)!r}")

    monkeypatch.setattr(training, "train", interrupted)
    argv = ["train", "--task", "dms", "--model", "HetSynLIF", "--out", str(tmp_path)]
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert "interrupted after step 3; saved to" in err
    assert f"resume with: hetsyn {' '.join(argv)} --resume" in err
