"""MV-BiGAN: multi-view BiGAN with uncertainty reduction (Chen's thesis §3.1)."""

from zoo import hookimpl

from .method import MVBiGANMethod


@hookimpl
def zoo_register_methods(register):
    register(MVBiGANMethod)
