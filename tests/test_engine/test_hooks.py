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
            [torch.nn.Linear(4, classes) for _ in range(3)]
        )
        self.bbox_head.enc_cls_branch = torch.nn.Linear(4, classes)
        self.dn_query_generator = torch.nn.Module()
        self.dn_query_generator.label_embedding = torch.nn.Embedding(
            classes + 1, 4
        )


# COCO class -> Objects365 class, by name, of the original's table (pinned
# here independently of the hook's table)
PINNED = {
    'person': 'Person',
    'suitcase': 'Luggage',
    'sports ball': 'Baseball',
    'dining table': 'Dinning Table',
    'tv': 'Moniter/TV',
    'hair drier': 'Hair Dryer',
    'motorcycle': 'Motorcycle',
}


def test_objects365_table_is_the_originals():
    import hashlib

    table = list(OBJECTS365_IDS_OF_COCO)
    assert len(table) == 80 and sum(table) == 8784
    digest = hashlib.sha256(str(table).encode()).hexdigest()
    assert digest.startswith('21ae4748057e416a')


@pytest.mark.parametrize('rows,offset', [(366, 1), (365, 0)])
def test_objects365_heads_are_remapped_to_coco(rows, offset):
    from mmdet.datasets import CocoDataset, Objects365V2Dataset

    coco = CocoDataset.METAINFO['classes']
    obj365 = Objects365V2Dataset.METAINFO['classes']
    source = Heads(rows)
    state = {k: v.clone() for k, v in source.state_dict().items()}
    checkpoint = dict(state_dict=state)
    hook = HOOKS.build(dict(type='DFineClassRemapHook'))
    hook.after_load_checkpoint(runner(model=Heads(80)), checkpoint)
    own = source.state_dict()
    layers = [f'bbox_head.cls_branches.{i}' for i in range(3)]
    for layer in layers + ['bbox_head.enc_cls_branch']:
        for kind, shape in (('weight', (80, 4)), ('bias', (80,))):
            key = f'{layer}.{kind}'
            assert state[key].shape == shape, key
            for name, target in PINNED.items():
                row = obj365.index(target) + offset
                assert torch.equal(state[key][coco.index(name)],
                                   own[key][row]), (key, name)  # fmt: skip
            for j, row in enumerate(OBJECTS365_IDS_OF_COCO):
                assert torch.equal(state[key][j], own[key][row + offset])
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


def _named_runner(model, classes):
    cfg = dict(train_dataloader=dict(dataset=dict(metainfo=dict(
        classes=classes))))  # fmt: skip
    return SimpleNamespace(iter=0, epoch=0, model=model, cfg=cfg)


def test_custom_classes_are_remapped_by_name():
    """An Objects365 checkpoint (the original's 366 rows) fine-tuned on a
    custom data set: rows found by name, the unknown class starts fresh
    and is named in the log."""
    from helpers import MMEngineLogRecords
    from mmdet.datasets import Objects365V2Dataset

    names = Objects365V2Dataset.METAINFO['classes']
    source = Heads(366)
    state = {k: v.clone() for k, v in source.state_dict().items()}
    model = Heads(5)
    classes = ('person', 'Cars', 'traffic_light', 'TV', 'unicorn')
    hook = HOOKS.build(dict(type='DFineClassRemapHook'))
    with MMEngineLogRecords() as records:
        hook.after_load_checkpoint(
            _named_runner(model, classes), dict(state_dict=state)
        )
    expected = [names.index(n) + 1 for n in
                ('Person', 'Car', 'Traffic Light', 'Moniter/TV')]  # fmt: skip
    for key in ('bbox_head.cls_branches.0.weight',
                'bbox_head.enc_cls_branch.bias'):  # fmt: skip
        got, src, own = state[key], source.state_dict()[key], (
            model.state_dict()[key])  # fmt: skip
        for j, row in enumerate(expected):
            assert torch.equal(got[j], src[row]), (key, classes[j])
        assert torch.equal(got[4], own[4])  # fresh
    assert any("starting fresh: ['unicorn']" in m for m in records.messages)


def test_coco_checkpoint_and_explicit_source_classes():
    from mmdet.datasets import CocoDataset

    coco = CocoDataset.METAINFO['classes']
    source = Heads(80)
    state = {k: v.clone() for k, v in source.state_dict().items()}
    HOOKS.build(dict(type='DFineClassRemapHook')).after_load_checkpoint(
        _named_runner(Heads(2), ('dogs', 'Person')), dict(state_dict=state)
    )
    weight = state['bbox_head.enc_cls_branch.weight']
    src = source.bbox_head.enc_cls_branch.weight
    assert torch.equal(weight[0], src[coco.index('dog')])
    assert torch.equal(weight[1], src[coco.index('person')])
    source = Heads(3)
    state = {k: v.clone() for k, v in source.state_dict().items()}
    names = ['cat', 'dog', 'bird']
    hook = HOOKS.build(dict(type='DFineClassRemapHook', source_classes=names))
    hook.after_load_checkpoint(
        _named_runner(Heads(2), ('bird', 'cat')), dict(state_dict=state)
    )
    src = source.bbox_head.enc_cls_branch.weight
    assert torch.equal(state['bbox_head.enc_cls_branch.weight'][0], src[2])


def test_class_name_matching():
    from dfine_mm.utils.class_names import match_class_names, normalise_name

    assert normalise_name(' Traffic_Lights ') == 'traffic light'
    assert normalise_name('boxes') == 'box'
    assert normalise_name('batteries') == 'battery'
    sources = ['Glasses', 'Glass', 'Moniter/TV', 'Boxes']
    # exact first ('Glass'), then loose ('glasses' -> 'Glasses' first)
    assert match_class_names(['Glass', 'glasses', 'tv', 'box', 'x'],
                             sources) == [1, 0, 2, 3, None]  # fmt: skip
