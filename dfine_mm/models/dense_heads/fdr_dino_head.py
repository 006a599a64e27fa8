"""The FDR head of DINO-style DETRs: the selected proposals join GO-LSD and
denoising queries are trained."""

from mmdet.registry import MODELS

from .fdr_deformable_detr_head import FDRDeformableDETRHead


@MODELS.register_module()
@MODELS.register_module(name='DINOFDRHead')  # the old name
class FDRDINOHead(FDRDeformableDETRHead):
    """:class:`FDRDeformableDETRHead` for DINO (mmdet's ``DINO``).

    DINO scores and regresses its Q selected encoder positions with the
    query-selection branches; here those proposals are one more output of
    GO-LSD (own classification matching, the union for the box terms), as
    in D-FINE, instead of Deformable-DETR's class-agnostic proposal loss.
    The denoising queries are trained on their fixed pairs (``dn_``,
    ``d{i}.dn_``, ``dn_pre_`` terms), given the detector's ``dn_meta``.

    Args:
        **kwargs: :class:`FDRDeformableDETRHead` arguments.
    """

    proposals_in_union = True
