from .dfine_cdn_query_generator import DFineCdnQueryGenerator
from .dfine_decoder_layer import DFineDecoderLayer
from .dfine_gate import DFineGate
from .dfine_lqe import DFineLQE
from .dfine_ms_deform_attn import DFineMSDeformableAttention
from .dfine_transformer_decoder import DFineTransformerDecoder
from .fdr_deformable_detr_decoder import FDRDeformableDetrTransformerDecoder
from .fdr_dino_decoder import FDRDinoTransformerDecoder

__all__ = [
    'FDRDeformableDetrTransformerDecoder',
    'FDRDinoTransformerDecoder',
    'DFineCdnQueryGenerator',
    'DFineDecoderLayer',
    'DFineGate',
    'DFineLQE',
    'DFineMSDeformableAttention',
    'DFineTransformerDecoder',
]
