"""distfit-toy (thesis of M. Oquab, §5.5 and App. D): which rectangle do ML,
KL, JS and EMD fit to the same data?"""

from zoo import hookimpl


@hookimpl
def zoo_register_methods(register):
    from .method import DistFitToy

    register(DistFitToy)


@hookimpl
def zoo_register_commands(cli):
    from .commands import register

    register(cli)
