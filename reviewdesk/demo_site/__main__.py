"""``python -m reviewdesk.demo_site --port 8765``: serve the demo review site in the foreground."""

from __future__ import annotations

import argparse
import contextlib

from reviewdesk.demo_site.server import DemoSite


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m reviewdesk.demo_site", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 = any free port)")
    parser.add_argument("--day", type=int, default=0, help="1 or more: a new and an edited review appear")
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    site = DemoSite(host=args.host, port=args.port, day=args.day, verbose=not args.quiet)
    print(f"Demo review site on {site.url}/ (companies: {', '.join(sorted(site.companies))}); Ctrl-C stops")
    with contextlib.suppress(KeyboardInterrupt):
        site.serve_forever()


if __name__ == "__main__":
    main()
