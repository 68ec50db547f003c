"""CGAN-C2ST (thesis of M. Oquab, Ch. 5 §5.4.2): cause-effect discovery with
conditional GANs and classifier two-sample tests."""

from zoo import hookimpl


@hookimpl
def zoo_register_methods(register):
    from .method import CGANC2ST

    register(CGANC2ST)


@hookimpl
def zoo_register_commands(cli):
    from .commands import register

    register(cli)
