"""DCGAN (thesis of M. Oquab, Ch. 5 §5.2-5.3, App. C): trained at the
thesis's widths and ranked with two-sample tests."""

from zoo import hookimpl


@hookimpl
def zoo_register_methods(register):
    from .method import DCGANMethod

    register(DCGANMethod)


@hookimpl
def zoo_register_commands(cli):
    from .commands import register

    register(cli)
