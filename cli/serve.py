"""``medembed ui``: the Streamlit app, started with the serving policy's hardening flags."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import click

from cli.common import handle_errors, settings_of

logger = logging.getLogger(__name__)

# Stopping `medembed ui` (a service manager's SIGTERM, Ctrl-C, a closed terminal) must stop the Streamlit server it
# started: its child would otherwise keep serving the port. Not exec: the OIDC secrets file of serving.prepared()
# must be removed once Streamlit has stopped.
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)


def run_forwarding(cmd: list[str]) -> int:
    """Run ``cmd`` as a child, passing the stop signals above on to it; its exit status (128+N when a signal
    ended it, as a shell reports it)."""
    child = subprocess.Popen(cmd, env=os.environ.copy())  # noqa: S603 - our own interpreter and app

    def forward(signum: int, _frame: object) -> None:
        logger.info("Stopping the app (signal %s)", signal.Signals(signum).name)
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:  # only if a handler was replaced under us; keep waiting for the child
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - code if code < 0 else code


@click.command()
@click.option("--port", default=8501, show_default=True, type=int)
@click.option("--address", default="127.0.0.1", show_default=True)
@click.argument("streamlit_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@handle_errors
def ui(ctx: click.Context, port: int, address: str, streamlit_args: tuple[str, ...]) -> None:
    """Start the Streamlit app (search, compare, score, ask, library). Refuses to serve without sign-in beyond
    localhost (see `medembed users add` and docs/deploy.md). SIGTERM or Ctrl-C stops the app."""
    from access import serving

    app = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    with serving.prepared(settings_of(ctx), address) as hardening:
        cmd = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
               "--server.address", address, "--server.headless", "true", *hardening, *streamlit_args]
        logger.info("Starting %s", " ".join(cmd))
        code = run_forwarding(cmd)
    ctx.exit(code)
