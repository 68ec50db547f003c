"""The `zoo` console script."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    from zoo.cli.common import report
    from zoo.errors import ZooError
    from zoo.plugin_manager import get_plugin_manager

    try:
        from zoo.cli.app import build_app

        app = build_app(get_plugin_manager())
        app(args=argv, prog_name="zoo")
    except ZooError as exc:  # raised outside a command (plugin loading)
        if os.environ.get("ZOO_DEBUG") or "--debug" in (argv or sys.argv):
            raise
        report(exc)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
