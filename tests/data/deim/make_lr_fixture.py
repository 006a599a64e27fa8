"""Make tests/data/deim/flat_cosine_lr.json from the original schedule.

Usage (the DEIM source tree, Intellindust-AI-Lab/DEIM at 09d35d5)::

    python tests/data/deim/make_lr_fixture.py /path/to/DEIM

Tabulates ``engine/optim/lr_scheduler.py::flat_cosine_schedule`` (a pure
function, loaded from its file alone) with DEIM-D-FINE-S's COCO settings:
base LR 2e-4, warm-up 2000 iterations, flat until epoch 64, the last 12
of 132 epochs without augmentation, lr_gamma 0.5, 3696 iterations per
epoch (COCO train2017 at a total batch of 32).
"""

import importlib.util
import json
import os.path as osp
import sys

SETTINGS = dict(base_lr=2e-4, warmup_iter=2000, flat_epoch=64,
                no_aug_epoch=12, epochs=132, lr_gamma=0.5,
                iter_per_epoch=3696)  # fmt: skip
ITERS = [0, 1, 500, 1999, 2000, 100000, 236545, 288288, 340032, 391776,
         443519, 443520, 487871]  # fmt: skip


def main(root):
    path = osp.join(root, 'engine', 'optim', 'lr_scheduler.py')
    spec = importlib.util.spec_from_file_location('lr_scheduler', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    s, ipe = SETTINGS, SETTINGS['iter_per_epoch']
    values = {
        str(k): module.flat_cosine_schedule(
            int(ipe * s['epochs']), s['warmup_iter'],
            int(ipe * s['flat_epoch']), int(ipe * s['no_aug_epoch']), k,
            s['base_lr'], s['base_lr'] * s['lr_gamma'],
        )
        for k in ITERS
    }  # fmt: skip
    out = osp.join(osp.dirname(osp.abspath(__file__)), 'flat_cosine_lr.json')
    with open(out, 'w') as f:
        json.dump(dict(settings=SETTINGS, schedule=values), f, indent=1)
    print(values)


if __name__ == '__main__':
    main(sys.argv[1])
