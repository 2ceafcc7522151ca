"""``python -m vfp.torchrun [torchrun options] stages/train.py [args]``: torchrun with one-line errors.

The same options as ``torchrun`` (it is torchrun's own parser and launcher). What differs: a rendezvous
that fails (the store at ``--rdzv_endpoint`` not reachable within ``--rdzv-conf read_timeout``, default
60 s; not every node joined within ``join_timeout``, default 600 s) ends in one ``error:`` line naming
the endpoint, the timeout and what to do, exit code 1, instead of torchrun's tracebacks; a failed
worker ends in one line after the worker's own message, with its exit code.
"""
from __future__ import annotations

import logging
import os
import sys

_CPP_LOG = os.environ.get("TORCH_CPP_LOG_LEVEL")
os.environ["TORCH_CPP_LOG_LEVEL"] = "FATAL"  # read once, when torch loads: silences the store's retry traces

import torch.distributed.run as torchrun  # noqa: E402
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError  # noqa: E402
from torch.distributed.elastic.rendezvous.api import (  # noqa: E402
    RendezvousConnectionError,
    RendezvousError,
    RendezvousTimeoutError,
)

if _CPP_LOG is None:  # the workers log as the user set it
    os.environ.pop("TORCH_CPP_LOG_LEVEL")
else:
    os.environ["TORCH_CPP_LOG_LEVEL"] = _CPP_LOG

DEFAULT_READ_TIMEOUT, DEFAULT_JOIN_TIMEOUT = 60, 600  # torchrun's c10d defaults (seconds)


def rdzv_conf(text: str) -> dict[str, str]:
    """``"join_timeout=30,read_timeout=10"`` -> ``{"join_timeout": "30", "read_timeout": "10"}``."""
    return dict(item.split("=", 1) for item in (text or "").split(",") if "=" in item)


def rendezvous_message(err: RendezvousError, args) -> str:
    """One line for a failed rendezvous: what was not reached, within which timeout, what to do."""
    conf, where = rdzv_conf(args.rdzv_conf), args.rdzv_endpoint or "(no --rdzv_endpoint)"
    if isinstance(err, RendezvousConnectionError):
        wait = conf.get("read_timeout", DEFAULT_READ_TIMEOUT)
        return (f"rendezvous store {where} not reachable within {wait} s: start the first node (the host in "
                "--rdzv_endpoint) and open that port to the other nodes, or raise --rdzv-conf read_timeout=S")
    if isinstance(err, RendezvousTimeoutError):
        wait = conf.get("join_timeout", DEFAULT_JOIN_TIMEOUT)
        return (f"rendezvous {where}: {args.nnodes} nodes did not all join within {wait} s: run the same command "
                "(same --rdzv_endpoint and --rdzv_id) on every node, or raise --rdzv-conf join_timeout=S")
    detail = str(err).splitlines()[0] if str(err).strip() else type(err).__name__
    return f"rendezvous {where}: {detail}"


def failure_message(err: ChildFailedError) -> tuple[str, int]:
    """One line for failed workers (their own messages came before it) and the exit code to end with."""
    rank, first = err.get_first_failure()
    code = first.exitcode if isinstance(first.exitcode, int) and first.exitcode > 0 else 1
    n = len(err.failures)
    return f"{n} worker process{'es' if n > 1 else ''} failed (first: rank {rank}, exit code {first.exitcode})", code


def main(argv: list[str] | None = None) -> int:
    args = torchrun.parse_args(sys.argv[1:] if argv is None else argv)
    # a failed worker: its own message, then failure_message's line (not the agent's log line as well)
    logging.getLogger("torch.distributed.elastic.multiprocessing.api").setLevel(logging.CRITICAL)
    if args.rdzv_backend == "c10d" and args.rdzv_endpoint and not args.standalone:
        conf = rdzv_conf(args.rdzv_conf)
        print(f"rendezvous: {args.nnodes} node(s) at {args.rdzv_endpoint} (store read_timeout "
              f"{conf.get('read_timeout', DEFAULT_READ_TIMEOUT)} s, join_timeout "
              f"{conf.get('join_timeout', DEFAULT_JOIN_TIMEOUT)} s)", flush=True)
    try:
        torchrun.run(args)
    except RendezvousError as err:
        print(f"error: {rendezvous_message(err, args)}", file=sys.stderr)
        return 1
    except ChildFailedError as err:
        line, code = failure_message(err)
        print(f"error: {line}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
