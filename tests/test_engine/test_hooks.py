"""DFineInvalidLossHook and DFineClassRemapHook."""

from types import SimpleNamespace

import pytest
import torch
from mmdet.registry import HOOKS

from dfine_mm.engine.hooks.class_remap_hook import OBJECTS365_IDS_OF_COCO


def runner(iteration=41, model=None):
    return SimpleNamespace(iter=iteration, epoch=2, model=model)


def test_invalid_loss_hook_names_iteration_and_term():
    hook = HOOKS.build(dict(type='DFineInvalidLossHook'))
    finite = torch.tensor(1.0, requires_grad=True)
    hook.after_train_iter(runner(), 0, outputs=dict(loss=finite, loss_cls=0.5))
    with pytest.raises(FloatingPointError) as error:
        hook.after_train_iter(
            runner(),
            0,
            outputs=dict(loss=float('nan'), loss_cls=0.5,
                         **{'d1.loss_ddf': float('inf')}),
        )  # fmt: skip
    message = str(error.value)
    assert 'iteration 42' in message
    assert 'd1.loss_ddf=inf' in message and 'loss_cls' not in message


class Heads(torch.nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.bbox_head = torch.nn.Module()
        self.bbox_head.cls_branches = torch.nn.ModuleList(
            [torch.nn.Linear(4, classes)]
        )
        self.bbox_head.enc_cls_branch = torch.nn.Linear(4, classes)
        self.dn_query_generator = torch.nn.Module()
        self.dn_query_generator.label_embedding = torch.nn.Embedding(
            classes + 1, 4
        )


@pytest.mark.parametrize('rows,offset', [(366, 1), (365, 0)])
def test_objects365_heads_are_remapped_to_coco(rows, offset):
    source = Heads(rows)
    state = {k: v.clone() for k, v in source.state_dict().items()}
    checkpoint = dict(state_dict=state)
    hook = HOOKS.build(dict(type='DFineClassRemapHook'))
    hook.after_load_checkpoint(runner(model=Heads(80)), checkpoint)
    weight = checkpoint['state_dict']['bbox_head.cls_branches.0.weight']
    assert weight.shape == (80, 4)
    for coco, obj365 in enumerate(OBJECTS365_IDS_OF_COCO):
        assert torch.equal(
            weight[coco],
            source.bbox_head.cls_branches[0].weight[obj365 + offset],
        )
    bias = checkpoint['state_dict']['bbox_head.enc_cls_branch.bias']
    assert bias.shape == (80,)
    assert 'dn_query_generator.label_embedding.weight' not in state


def test_matching_heads_are_left_alone():
    model = Heads(80)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    hook = HOOKS.build(dict(type='DFineClassRemapHook'))
    hook.after_load_checkpoint(runner(model=model), dict(state_dict=state))
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value)


def test_other_label_spaces_need_source_rows():
    hook = HOOKS.build(dict(type='DFineClassRemapHook'))
    state = Heads(100).state_dict()
    with pytest.raises(ValueError, match='source_rows'):
        hook.after_load_checkpoint(
            runner(model=Heads(80)), dict(state_dict=state)
        )
