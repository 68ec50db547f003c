"""SRVP: Stochastic Latent Residual Video Prediction (thesis §3.2)."""

from zoo import hookimpl

from .commands import register_commands
from .method import SRVP


@hookimpl
def zoo_register_methods(register):
    register(SRVP)


@hookimpl
def zoo_register_commands(cli):
    register_commands(cli)
