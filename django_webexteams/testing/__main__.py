"""``python -m django_webexteams.testing --port 8900 --seed demo``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .runner import run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m django_webexteams.testing",
        description="Run the fake Webex (a local emulator; its tokens work nowhere else).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument(
        "--ws-port",
        type=int,
        default=0,
        help="port of the websocket (Mercury) server (default 0: a free port, shown at start)",
    )
    parser.add_argument(
        "--seed",
        choices=["demo"],
        default=None,
        help="create demo people, a bot, a space and an OAuth client",
    )
    parser.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        help="OAuth redirect URI for the seeded client (repeatable)",
    )
    parser.add_argument(
        "--json", action="store_true", dest="as_json", help="print the seeded data as JSON"
    )
    parser.add_argument("--rate-limit-per-minute", type=float, default=None)
    parser.add_argument(
        "--control",
        action="store_true",
        help="serve the loopback-only control API under /_fake/ (fail-next, deliveries, ...)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    run(
        host=args.host,
        port=args.port,
        ws_port=args.ws_port,
        seed=args.seed,
        redirect_uris=args.redirect_uris,
        as_json=args.as_json,
        rate_limit_per_minute=args.rate_limit_per_minute,
        control=args.control,
    )


if __name__ == "__main__":
    main()
