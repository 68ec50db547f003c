"""mAR-SCF and Glow (thesis Ch. 6): split-coupling flows with multi-scale
autoregressive or Gaussian priors, and `zoo mar-scf interpolate`."""

from zoo import hookimpl

from .commands import register_commands
from .method import Glow, MarSCF


@hookimpl
def zoo_register_methods(register):
    register(MarSCF)
    register(Glow)


@hookimpl
def zoo_register_commands(cli):
    register_commands(cli)
