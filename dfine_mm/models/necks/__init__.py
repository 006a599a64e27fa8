from .dfine_hybrid_encoder import DFineHybridEncoder

__all__ = ['DFineHybridEncoder']
