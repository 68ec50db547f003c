"""C2ST (thesis of M. Oquab, Ch. 5 §5.3): classifier two-sample tests."""

from zoo import hookimpl


@hookimpl
def zoo_register_methods(register):
    from .method import C2ST

    register(C2ST)


@hookimpl
def zoo_register_commands(cli):
    from .commands import register

    register(cli)
