"""ReDO (thesis of M. Chen, Ch. 5): unsupervised object segmentation by redrawing."""

from zoo import hookimpl


@hookimpl
def zoo_register_methods(register):
    from .method import ReDO

    register(ReDO)
