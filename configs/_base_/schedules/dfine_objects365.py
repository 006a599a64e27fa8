# Objects365 pre-training (dfine_spec.md §g.6): the recipe with strong
# augmentation and multi-scale that never stop (no mode switch) and a
# checkpoint every epoch.
_base_ = './dfine_recipe.py'

custom_hooks = [
    # backbone and neck convolutions in channels-last format: 0.84x of
    # the S step on a GPU (docs/benchmarks.md)
    dict(type='DFineChannelsLastHook'),
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=1e-4,
         gamma=1000, update_buffers=True, priority=49),
    dict(type='DFineInvalidLossHook'),
]  # fmt: skip
default_hooks = dict(checkpoint=dict(interval=1))
