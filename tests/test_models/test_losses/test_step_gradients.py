"""One D-FINE-N training step's losses and gradients are those pinned in
tests/data/step_gradients/dfine_n.json (see make_step_gradients.py there):
every loss term and every parameter's gradient norm within 1e-9 relative.

The step runs in fp64 and the fixture was made in fp64 with the code before
the batched matching (commit ec13640): today's code agrees to 1.2e-13, on
any thread count (2.1e-13 with two threads against one). The earlier fp32
pin failed on another CPU (fp32 kernels round differently), see
make_step_gradients.py.

The same step in channels-last format (the training runs' format on the
CPU: its own autograd nodes and format hooks) agrees with the pin too.
On a CUDA device (``tools/misc/gpu_checks.sh run cuda-step``) the step,
without the denoising noise (no random draws), agrees with the CPU's."""

import json
import os.path as osp

import pytest
import torch
from helpers import REPO_ROOT, load_script

DATA = osp.join(REPO_ROOT, 'tests', 'data', 'step_gradients')
SCRIPT = 'tests/data/step_gradients/make_step_gradients.py'


def _assert_same_step(step, reference, rel):
    """``step`` and ``reference``: (loss terms, gradient norms) dicts."""
    (losses, norms), (ref_losses, ref_norms) = step, reference
    assert set(losses) == set(ref_losses)
    for key, value in ref_losses.items():
        assert losses[key] == pytest.approx(value, rel=rel, abs=1e-12), key
    assert set(norms) == set(ref_norms)
    for key, value in ref_norms.items():
        assert norms[key] == pytest.approx(value, rel=rel, abs=1e-15), key


def _pinned():
    with open(osp.join(DATA, 'dfine_n.json')) as file:
        pinned = json.load(file)
    return pinned['losses'], pinned['grad_norms']


@pytest.mark.parametrize('channels_last', [False, True])
def test_one_steps_losses_and_gradients_are_unchanged(channels_last):
    script = load_script(SCRIPT)
    *step, model = script.step_gradients(
        torch.float64, channels_last=channels_last, with_model=True
    )
    weight = model.backbone.stem.stem1.conv.weight
    assert weight.is_contiguous(memory_format=torch.channels_last) == (
        channels_last
    )
    _assert_same_step(step, _pinned(), rel=1e-9)


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason='needs a CUDA device (tools/misc/gpu_checks.sh run cuda-step)',
)
@pytest.mark.parametrize('channels_last', [False, True])
def test_the_step_on_cuda_matches_the_cpus(channels_last):
    script = load_script(SCRIPT)
    cpu = script.step_gradients(torch.float64, noise=False)
    *cuda, model = script.step_gradients(
        torch.float64,
        'cuda',
        noise=False,
        channels_last=channels_last,
        with_model=True,
    )
    assert next(model.parameters()).is_cuda
    _assert_same_step(cuda, cpu, rel=1e-7)
