"""GMV, CGMV and their baselines GANx-k and CGAN-views (Chen's thesis §4.2)."""

from zoo import hookimpl

from .method import CGMV, GMV, CGANViews, GANxK


@hookimpl
def zoo_register_methods(register):
    for method in (GMV, CGMV, GANxK, CGANViews):
        register(method)


@hookimpl
def zoo_register_commands(cli):
    from .commands import register

    register(cli)
