from .regex_param_groups_constructor import DFineOptimWrapperConstructor

__all__ = ['DFineOptimWrapperConstructor']
