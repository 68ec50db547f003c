"""SRVP: Stochastic Latent Residual Video Prediction (thesis §3.2)."""

from zoo import hookimpl

from .method import SRVP


@hookimpl
def zoo_register_methods(register):
    register(SRVP)
