"""Structural settings held once: DFINE gives its head the decoder's."""

import pytest

from dfine_mm.models.utils.settings import head_settings

DECODER = dict(num_layers=3, reg_max=16, eval_idx=-1,
               layer_cfg=dict(embed_dims=128))  # fmt: skip


def test_head_gets_the_decoder_settings():
    head = head_settings(dict(type='DFineHead', num_classes=5), DECODER, 'D')
    assert (head['num_pred_layer'], head['reg_max'], head['eval_idx'],
            head['embed_dims']) == (3, 16, -1, 128)  # fmt: skip
    assert head['num_classes'] == 5
    # equal values (old configs) are fine; unnamed decoder keys keep the
    # head's own
    assert head_settings(dict(num_pred_layer=3), DECODER, 'D')[
        'num_pred_layer'] == 3  # fmt: skip
    assert head_settings(dict(reg_max=8), dict(num_layers=2), 'D')[
        'reg_max'] == 8  # fmt: skip


def test_conflicts_name_both_sides():
    with pytest.raises(ValueError, match=r'bbox_head.num_pred_layer=6 '
                       r'conflicts with decoder.num_layers=3'):  # fmt: skip
        head_settings(dict(num_pred_layer=6), DECODER, 'DFINE')
    with pytest.raises(ValueError, match='decoder.layer_cfg.embed_dims'):
        head_settings(dict(embed_dims=256), DECODER, 'DFINE')


def test_the_n_model_builds_with_the_decoder_settings():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    from dfine_mm.converters.dfine import build_variant_model

    register_all_modules()
    model = build_variant_model('n')
    assert model.bbox_head.num_pred_layer == model.decoder.num_layers == 3
    assert model.bbox_head.embed_dims == 128
    assert MODELS.get('DFINE') is type(model)
