# D-FINE-X: HGNetV2-B5, a 384-channel encoder projected to the 256-channel
# decoder, reg_scale 8 (COCO AP 55.8 published).
_base_ = [
    '../_base_/models/dfine-x_hgnetv2-b5.py',
    '../_base_/datasets/coco_dfine.py',
    '../_base_/schedules/dfine_recipe.py',
]

# Recipe (dfine_spec.md §g.5): 80 epochs, augmentation stops at 72.
