# D-FINE-L: HGNetV2-B4 backbone, 6 decoder layers (COCO AP 54.0 published),
# trained with the original recipe (the recipe base holds L's values).
_base_ = [
    '../_base_/models/dfine-l_hgnetv2-b4.py',
    '../_base_/datasets/coco_dfine.py',
    '../_base_/schedules/dfine_recipe.py',
]
