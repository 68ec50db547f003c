"""The core's own data sets, registered like any plugin's.

Each module listed here defines `DATASETS`, a list of `DatasetSpec`. Add a
module to `MODULES` to register its data sets.
"""

from __future__ import annotations

import importlib

from zoo.hookspecs import hookimpl

MODULES = (
    "zoo.data.digits",
    "zoo.data.multiview",
    "zoo.data.small_images",
    "zoo.data.segmentation",
    "zoo.data.video",
    "zoo.data.two_sample",
    "zoo.data.gan",
    "zoo.data.cause_effect",
    "zoo.data.parabola",
)


@hookimpl
def zoo_register_datasets(register):
    for module in MODULES:
        for spec in importlib.import_module(module).DATASETS:
            register(spec)
