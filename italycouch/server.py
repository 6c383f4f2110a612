"""The production web process: uvicorn serving ``italycouch.asgi:application``, set up as measured.

    python -m italycouch.server --host 0.0.0.0 --port 8000 --proxy-headers

Why uvicorn and these options (docs/adr/0013-uvicorn.md, figures in docs/performance.md "Live
room"): the live room writes every chat message to each of a thousand sockets. Through Daphne each
write goes via autobahn and Twisted's transport (a writer registered and removed per write); on
uvloop with the sans-I/O ``websockets`` protocol it is one call into the C transport. With 1,000
viewers at 10 messages/s the same code measured p99 1,361 ms and 83 % of a core on Daphne,
464 ms and 66 % on uvicorn. Per-message deflate is off: room frames are small and compressing each of
them once per socket would cost more CPU than the bytes it saves. The development server stays
``manage.py runserver`` (Daphne, with autoreload).

The garbage collector is tuned after the application is imported: everything loaded so far is
frozen (never scanned again), and young collections run every 50,000 allocations instead of
700. With a thousand sockets open, full collections had paused the event loop for 100 to 330 ms
every few seconds, the whole tail of the room's latency.
"""

from __future__ import annotations

import argparse
import gc
import os
from collections.abc import Sequence
from typing import Any

__all__ = ["main", "tune_garbage_collector", "uvicorn_options"]

APPLICATION = "italycouch.asgi:application"


def uvicorn_options() -> dict[str, Any]:
    """What every uvicorn of this project runs with (production, benchmarks, browser tests)."""
    return {
        "loop": "uvloop",
        "http": "httptools",
        "ws": "websockets-sansio",
        "ws_per_message_deflate": False,
        "lifespan": "off",  # Channels' router has no lifespan handler
        "timeout_graceful_shutdown": 5,
    }


def tune_garbage_collector() -> None:
    """Freeze what is loaded (the application, its modules) and make young collections rarer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--fd", type=int, default=None, help="serve on this inherited listening socket instead")
    parser.add_argument(
        "--proxy-headers", action="store_true", help="trust X-Forwarded-For/-Proto from --forwarded-allow-ips"
    )
    parser.add_argument("--forwarded-allow-ips", default="127.0.0.1")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    import uvicorn

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "italycouch.settings")
    from italycouch.asgi import application

    tune_garbage_collector()
    config = uvicorn.Config(
        application,
        host=args.host,
        port=args.port,
        fd=args.fd,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=args.forwarded_allow_ips,
        log_level=args.log_level,
        access_log=False,
        **uvicorn_options(),
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
