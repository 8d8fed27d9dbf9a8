"""One uvicorn worker process on its own SO_REUSEPORT socket: `python -m bench.serve --port P [--factory] APP`.

The benchmark starts N of these on one port instead of `uvicorn --workers N`. With one shared listening socket, each
worker's event loop accepts every connection waiting when it wakes, so wrk's 32 connections, opened in one burst,
sometimes all land on one worker and the other stays idle: the measured requests/s halved from one run to the next.
With a socket per process the kernel spreads the connections across them by their addresses, as it would spread a
real client population; the baseline and every scenario are served the same way.
"""

import argparse
import socket

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--factory", action="store_true")
    args = parser.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((args.host, args.port))
    # The same stack as `uvicorn --workers N` (uvloop, httptools), without its access log.
    config = uvicorn.Config(args.app, factory=args.factory, access_log=False, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
