"""Transfer class heads between label spaces when loading a checkpoint."""

import logging
from typing import Dict, List, Optional, Sequence

import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log

# Objects365 class id (0-based, the original's label - 1) of each COCO
# class, in COCO's order; from the original D-FINE's fine-tuning code.
OBJECTS365_IDS_OF_COCO = (
    0, 46, 5, 58, 114, 55, 116, 65, 21, 40, 176, 127, 249, 24, 56, 139, 92,
    78, 99, 96, 144, 295, 178, 180, 38, 39, 13, 43, 120, 219, 148, 173, 165,
    154, 137, 113, 145, 146, 204, 8, 35, 10, 88, 84, 93, 26, 112, 82, 265,
    104, 141, 152, 234, 143, 150, 97, 2, 50, 25, 75, 98, 153, 37, 73, 115,
    132, 106, 61, 163, 134, 277, 81, 133, 18, 94, 30, 169, 70, 328, 226,
)  # fmt: skip


@HOOKS.register_module()
class DFineClassRemapHook(Hook):
    """Remap the class rows of a loaded checkpoint to the model's classes.

    When ``load_from`` holds a model trained on another label space (e.g.
    Objects365, 366 rows) and the model has K classes, the rows of every
    class-score layer (``bbox_head.cls_branches.*`` and
    ``bbox_head.enc_cls_branch``) are gathered as ``source_rows`` says:
    model row j <- checkpoint row ``source_rows[j]``. The denoising label
    embedding is dropped when its shape differs (it is re-initialised),
    as in the original's fine-tuning. Checkpoints whose heads already fit
    are left alone, so resuming is unaffected.

    Args:
        source_rows (Sequence[int], optional): Checkpoint row of each model
            class. Defaults to the Objects365 rows of the 80 COCO classes:
            ``obj365_ids + 1`` for the original's 366-row heads (row 0
            unused), ``obj365_ids`` for 365-row heads (mmdet's
            ``Objects365V2Dataset`` labels).
        keys (Sequence[str]): Prefixes of the class-score layers.
    """

    priority = 'VERY_HIGH'  # before EMAHook copies the state dict

    def __init__(
        self,
        source_rows: Optional[Sequence[int]] = None,
        keys: Sequence[str] = (
            'bbox_head.cls_branches.',
            'bbox_head.enc_cls_branch.',
        ),
        embedding_key: str = 'dn_query_generator.label_embedding.weight',
    ) -> None:
        self.source_rows = None if source_rows is None else list(source_rows)
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
            rows = self._rows(len(tensor))
            if rows.max() >= len(tensor):
                raise ValueError(
                    f'{name} has {len(tensor)} rows but source_rows asks '
                    f'for row {int(rows.max())}; set DFineClassRemapHook.'
                    'source_rows for this checkpoint'
                )
            state[name] = tensor[rows.to(tensor.device)].clone()
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

    def _rows(self, source: int) -> torch.Tensor:
        """Checkpoint rows of the model's classes."""
        if self.source_rows is not None:
            return torch.tensor(self.source_rows)
        offset = {366: 1, 365: 0}.get(source)
        if offset is None:
            raise ValueError(
                f'a class head with {source} rows is not an Objects365 '
                'head (366 rows in the original, 365 in mmdet); set '
                'DFineClassRemapHook.source_rows'
            )
        return torch.tensor([i + offset for i in OBJECTS365_IDS_OF_COCO])
