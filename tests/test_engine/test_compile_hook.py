"""DFineCompileHook: the parts run compiled, train as in eager mode and
keep their state-dict keys; bad settings are errors."""

import copy
import gc
from types import SimpleNamespace

import pytest
import torch
from helpers import det_samples
from mmdet.registry import HOOKS
from torch import nn
from torch._dynamo.testing import CompileCounterWithBackend

from dfine_mm.converters.dfine import build_variant_model
from dfine_mm.engine.hooks import DFineCompileHook

SIZE = 320


def _loss_and_grads(model, images, samples):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the same denoising noise for every model
    losses = model.loss(images, samples)
    sum(losses.values()).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None}  # fmt: skip
    return {k: v.detach() for k, v in losses.items()}, grads


def test_compiled_backbone_and_neck_train_as_in_eager_mode():
    torch.manual_seed(0)
    eager = build_variant_model('n', num_classes=5)
    eager.init_weights()
    eager.train()
    model = copy.deepcopy(eager)
    keys = list(model.state_dict())
    counter = CompileCounterWithBackend('aot_eager')
    hook = HOOKS.build(
        dict(type='DFineCompileHook', compile_cfg=dict(backend=counter))
    )
    hook.before_train(SimpleNamespace(model=model))
    assert list(model.state_dict()) == keys  # checkpoints unchanged
    # a deep copy (EMAHook's averaged model) runs uncompiled
    assert copy.deepcopy(model).backbone._compiled_call_impl is None

    images = torch.rand(2, 3, SIZE, SIZE)
    samples = det_samples([3, 1], SIZE, SIZE, 5, 0)
    expected, expected_grads = _loss_and_grads(eager, images, samples)
    losses, grads = _loss_and_grads(model, images, samples)
    traced = counter.frame_count
    assert traced >= 2  # backbone and neck went through TorchDynamo
    assert losses.keys() == expected.keys()
    for key, value in expected.items():
        torch.testing.assert_close(losses[key], value, rtol=1e-4, atol=1e-5)
    assert grads.keys() == expected_grads.keys()
    for name, grad in expected_grads.items():
        torch.testing.assert_close(
            grads[name], grad, rtol=1e-3, atol=1e-5, msg=name
        )
    # a second step of the same size reuses the compiled code (the
    # encoder's position-embedding cache is not part of the graph)
    _loss_and_grads(model, images, samples)
    assert counter.frame_count == traced
    hook.before_train(SimpleNamespace(model=model))  # a second run: no-op
    assert counter.frame_count == traced


class _Part(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = _Part(3)
        self.neck = _Part(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neck(self.backbone(x))


def test_a_wrapped_model_has_its_inner_parts_compiled(tmp_path):
    """DistributedDataParallel (one gloo process): the parts of the model
    inside it are compiled and its gradients are those of eager mode."""
    from mmengine.model import MMDistributedDataParallel

    torch.distributed.init_process_group(
        'gloo', init_method=f'file://{tmp_path}/store', rank=0, world_size=1
    )
    wrapped = None
    try:
        torch.manual_seed(0)
        eager = _Tiny()
        wrapped = MMDistributedDataParallel(copy.deepcopy(eager))
        counter = CompileCounterWithBackend('aot_eager')
        DFineCompileHook(compile_cfg=dict(backend=counter)).before_train(
            SimpleNamespace(model=wrapped)
        )
        x = torch.rand(2, 3, 8, 8)
        wrapped(x).square().sum().backward()
        eager(x).square().sum().backward()
        assert counter.frame_count == 2
        for (name, ours), theirs in zip(
            wrapped.module.named_parameters(), eager.parameters()
        ):
            torch.testing.assert_close(ours.grad, theirs.grad, msg=name)
    finally:
        # The wrapper's reducer goes while the group is still registered:
        # freed after destroy_process_group, its gloo group's destructor
        # joins gloo's thread with the GIL held while that thread needs
        # the GIL (a CI run hung there once, 2026-12-04).
        del wrapped
        gc.collect()
        torch.distributed.destroy_process_group()


@pytest.mark.parametrize(
    'parts, message',
    [(('backbone', 'encoder'), r"no \['encoder'\]"),
     (('backbone', 'head'), r"\['head'\] are PyTorch modules")],
)  # fmt: skip
def test_parts_that_cannot_be_compiled_are_errors(parts, message):
    model = _Tiny()
    model.head = nn.Sequential(nn.Conv2d(3, 1, 1))
    hook = DFineCompileHook(parts=parts)
    with pytest.raises(ValueError, match=message):
        hook.before_train(SimpleNamespace(model=model))
    assert model.backbone._compiled_call_impl is None  # nothing compiled


def test_a_misspelt_compile_setting_fails_when_the_hook_is_built():
    with pytest.raises(ValueError, match=r"has \['mdoe'\].*'mode'"):
        DFineCompileHook(compile_cfg=dict(mdoe='max-autotune'))


def test_the_hook_in_a_training_run(synthetic_coco, tmp_path):
    """The demo config (channels-last and EMA hooks) with the hook added:
    training runs compiled, EMA's copy stays uncompiled and the checkpoint
    keeps the model's keys."""
    from helpers import DEMO_CONFIG, load_tool, tiny_train_options
    from mmengine.hooks import EMAHook
    from mmengine.runner import Runner
    from torch._dynamo.utils import counters

    train = load_tool('train')
    cfg = train.build_config(train.parse_args([DEMO_CONFIG]))
    cfg.merge_from_dict(tiny_train_options(synthetic_coco, str(tmp_path)))
    cfg.merge_from_dict({'train_cfg.max_epochs': 1, 'train_cfg.val_begin': 2,
                         'train_dataloader.dataset.indices': 4})  # fmt: skip
    # TorchDynamo's graphs run by eager PyTorch (the fastest to compile;
    # autograd through compiled graphs: the test above)
    cfg.custom_hooks.append(
        dict(type='DFineCompileHook', compile_cfg=dict(backend='eager'))
    )
    graphs = counters['stats']['unique_graphs']
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 2
    assert counters['stats']['unique_graphs'] > graphs  # compiled graphs ran
    model = runner.model
    assert model.backbone._compiled_call_impl is not None
    weight = model.backbone.stem.stem1.conv.weight  # the earlier hook's
    assert weight.is_contiguous(memory_format=torch.channels_last)
    ema = next(h for h in runner.hooks if isinstance(h, EMAHook)).ema_model
    assert ema.module.backbone._compiled_call_impl is None
    saved = torch.load(f'{tmp_path}/epoch_1.pth', weights_only=False)
    assert list(saved['state_dict']) == list(model.state_dict())
