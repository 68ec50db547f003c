"""`zoo pull` and `zoo push`: weights from and to the Hugging Face Hub.

Both are thin: the work is `zoo.api.pull` / `zoo.api.push` (and `zoo.hub`).
Status goes to stderr; `zoo pull` prints the local folder alone on stdout, so
`$(zoo pull owner/repo)` is the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from zoo.cli.common import console, err_console, handle_errors


def register(app: typer.Typer, manager) -> None:
    @app.command("pull")
    @handle_errors
    def pull_command(
        ref: Annotated[
            str,
            typer.Argument(
                help="owner/repo or owner/repo@revision (branch, tag or commit); hf://owner/repo[@revision] "
                "and registry weights names (see `zoo list`) work too.",
                metavar="OWNER/REPO[@REVISION]",
            ),
        ],
        force: Annotated[bool, typer.Option("--force", help="Download again even if the cache has it.")] = False,
    ):
        """Download model weights from the Hub into the Hugging Face cache, verify them, print the folder.

        HF_ENDPOINT, HF_TOKEN, HF_HOME and HF_HUB_OFFLINE work as in every Hugging Face tool.
        """
        from zoo import api

        pulled = api.pull(ref, force=force)
        if pulled.notice:
            err_console.print(f"[yellow]Note:[/] {escape(pulled.notice)}")
        if pulled.source == "bundled":
            what = f"{pulled.name} (bundled with the package)"
        else:
            what = f"{pulled.name} (commit {pulled.commit[:7]})"
        err_console.print(f"Verified {escape(pulled.file)} of {escape(what)}")
        console.print(str(pulled.path), soft_wrap=True)

    @app.command("push")
    @handle_errors
    def push_command(
        folder: Annotated[
            Path,
            typer.Argument(help="Run directory or folder written by `zoo export`.", metavar="RUN_DIR"),
        ],
        repo: Annotated[str, typer.Argument(help="Hub repo to push to (created if needed).", metavar="OWNER/REPO")],
        private: Annotated[bool, typer.Option("--private", help="Create the repo as private.")] = False,
        revision: Annotated[
            Optional[str],
            typer.Option("--revision", "--branch", help="Branch to commit to (created if needed; default main)."),
        ] = None,
        message: Annotated[Optional[str], typer.Option("--message", "-m", help="Commit message.")] = None,
        keep_card: Annotated[
            bool, typer.Option("--keep-card", help="Upload the folder's own README.md instead of a generated card.")
        ] = False,
    ):
        """Upload weights, config.json and a generated model card to a Hub repo, in one commit.

        Needs a token with write access: HF_TOKEN, or `hf auth login`.
        """
        from zoo import api

        pushed = api.push(folder, repo, private=private, branch=revision, message=message,
                          keep_card=keep_card, manager=manager)
        err_console.print(
            f"Pushed {', '.join(pushed.files)} to [bold]{escape(pushed.repo)}[/] "
            f"({escape(pushed.branch)}), commit {pushed.commit[:7]}"
        )
        console.print(pushed.commit_url, soft_wrap=True)
