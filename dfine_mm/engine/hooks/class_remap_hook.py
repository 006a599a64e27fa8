"""Transfer class heads between label spaces when loading a checkpoint."""

import logging
from typing import Dict, List, Optional, Sequence

from mmdet.datasets import CocoDataset
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ...utils.class_names import match_class_names

# Objects365 class id (0-based, the original's label - 1) of each COCO
# class, in COCO's order; from the original D-FINE's fine-tuning code.
OBJECTS365_IDS_OF_COCO = (
    0, 46, 5, 58, 114, 55, 116, 65, 21, 40, 176, 127, 249, 24, 56, 139, 92,
    78, 99, 96, 144, 295, 178, 180, 38, 39, 13, 43, 120, 219, 148, 173, 165,
    154, 137, 113, 145, 146, 204, 8, 35, 10, 88, 84, 93, 26, 112, 82, 265,
    104, 141, 152, 234, 143, 150, 97, 2, 50, 25, 75, 98, 153, 37, 73, 115,
    132, 106, 61, 163, 134, 277, 81, 133, 18, 94, 30, 169, 70, 328, 226,
)  # fmt: skip
COCO_CLASSES = tuple(CocoDataset.METAINFO['classes'])


@HOOKS.register_module()
class DFineClassRemapHook(Hook):
    """Remap the class rows of a loaded checkpoint to the model's classes.

    When ``load_from`` holds a model trained on another label space (e.g.
    Objects365, 366 rows) and the model has K classes, the rows of every
    class-score layer (``bbox_head.cls_branches.*`` and
    ``bbox_head.enc_cls_branch``) are gathered: model row j <- checkpoint
    row ``rows[j]``. The rows come from, in order:

    1. ``source_rows``, if given;
    2. the original's Objects365 -> COCO table, when the data set's classes
       are COCO's 80 and the checkpoint has an Objects365 head;
    3. the class *names*: the data set's classes (``metainfo['classes']``
       of the training set) matched to the checkpoint's (``source_classes``,
       or by row count Objects365's 365 names - 366 rows: the original's,
       row 0 unused - or COCO's 80), exactly, then ignoring case, ``_`` /
       ``-`` and plurals (:func:`~dfine_mm.utils.class_names.
       match_class_names`). Unmatched classes keep the model's freshly
       initialised rows; the log lists them.

    The denoising label embedding is dropped when its shape differs (it is
    re-initialised), as in the original's fine-tuning. Checkpoints whose
    heads already fit are left alone, so resuming is unaffected.

    Args:
        source_rows (Sequence[int], optional): Checkpoint row of each model
            class.
        source_classes (Sequence[str], optional): The class name of each
            checkpoint row, for checkpoints of other label spaces.
        keys (Sequence[str]): Prefixes of the class-score layers.
        embedding_key (str): The denoising label embedding.
    """

    priority = 'VERY_HIGH'  # before EMAHook copies the state dict

    def __init__(
        self,
        source_rows: Optional[Sequence[int]] = None,
        source_classes: Optional[Sequence[str]] = None,
        keys: Sequence[str] = (
            'bbox_head.cls_branches.',
            'bbox_head.enc_cls_branch.',
        ),
        embedding_key: str = 'dn_query_generator.label_embedding.weight',
    ) -> None:
        self.source_rows = None if source_rows is None else list(source_rows)
        self.source_classes = (
            None if source_classes is None else list(source_classes)
        )
        self.keys = tuple(keys)
        self.embedding_key = embedding_key

    def after_load_checkpoint(self, runner, checkpoint: Dict) -> None:
        state = checkpoint.get('state_dict', checkpoint)
        model = getattr(runner.model, 'module', runner.model)
        own = model.state_dict()
        remapped: List[str] = []
        rows = None
        for name in list(state):
            if not name.startswith(self.keys) or name not in own:
                continue
            tensor = state[name]
            if len(tensor) == len(own[name]):
                continue
            if rows is None:
                rows = self._rows(runner, len(tensor), len(own[name]))
            fresh = own[name].clone().to(tensor.device)
            for j, row in enumerate(rows):
                if row is not None:
                    fresh[j] = tensor[row]
            state[name] = fresh
            remapped.append(name)
        embedding = state.get(self.embedding_key)
        # K classes + the pad row
        if (
            remapped
            and embedding is not None
            and len(embedding) != len(rows) + 1
        ):
            state.pop(self.embedding_key)
        if remapped:
            print_log(
                f'DFineClassRemapHook: {len(remapped)} class layers '
                f'remapped to {len(rows)} classes',
                logger='current',
                level=logging.INFO,
            )

    def _rows(self, runner, source: int, target: int) -> List[Optional[int]]:
        """Checkpoint row of each model class (None: start fresh)."""
        if self.source_rows is not None:
            rows = list(self.source_rows)
            if len(rows) != target or max(rows) >= source:
                raise ValueError(
                    f'DFineClassRemapHook.source_rows has {len(rows)} '
                    f'entries up to row {max(rows)}; the model has {target} '
                    f'classes and the checkpoint {source} rows'
                )
            return rows
        classes = _dataset_classes(runner)
        if classes is None and target == len(COCO_CLASSES):
            classes = COCO_CLASSES  # the Objects365 -> COCO recipe
        if classes is None or len(classes) != target:
            raise ValueError(
                f"cannot tell the names of the model's {target} classes "
                "(no metainfo['classes'] in the training set); set "
                'DFineClassRemapHook.source_rows'
            )
        offset = {366: 1}.get(source, 0)
        if tuple(classes) == COCO_CLASSES and source in (365, 366):
            return [i + offset for i in OBJECTS365_IDS_OF_COCO]
        names = self.source_classes or _known_classes(source)
        if names is None:
            raise ValueError(
                f'a class head with {source} rows is not an Objects365 '
                '(366 rows in the original, 365 in mmdet) or COCO head; set '
                'DFineClassRemapHook.source_classes or source_rows'
            )
        matched = match_class_names(classes, names)
        rows = [None if m is None else m + offset for m in matched]
        fresh = [c for c, r in zip(classes, rows) if r is None]
        print_log(
            f'DFineClassRemapHook: {target - len(fresh)} of {target} classes '
            f"matched by name to the checkpoint's {source} rows"
            + (f'; starting fresh: {fresh}' if fresh else ''),
            logger='current',
            level=logging.WARNING if fresh else logging.INFO,
        )
        return rows


def _dataset_classes(runner) -> Optional[tuple]:
    """``metainfo['classes']`` of the training set, built or configured."""
    loop = getattr(runner, '_train_loop', None)
    dataset = getattr(getattr(loop, 'dataloader', None), 'dataset', None)
    metainfo = getattr(dataset, 'metainfo', None)
    if metainfo is None:
        cfg = getattr(runner, 'cfg', None) or {}
        dataset = cfg.get('train_dataloader', {}).get('dataset', {})
        metainfo = dataset.get('metainfo', None)
    classes = (metainfo or {}).get('classes')
    return tuple(classes) if classes else None


def _known_classes(rows: int) -> Optional[tuple]:
    from mmdet.datasets import Objects365V2Dataset

    if rows in (365, 366):
        return tuple(Objects365V2Dataset.METAINFO['classes'])
    if rows == len(COCO_CLASSES):
        return COCO_CLASSES
    return None
