"""`python -m local` (make demo): all of Tandem on 127.0.0.1, until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
import warnings
from typing import Sequence

from local.demo import MODELS, Demo, DemoOptions


def parse(argv: Sequence[str]) -> DemoOptions:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--port", type=int, default=8000, help="the port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--model", choices=MODELS, default="offline",
                        help="offline: the stand-in that quotes the sample help pages; bedrock: Amazon Bedrock "
                             "with your AWS credentials (only Bedrock is then real)")
    parser.add_argument("--accept-wait", type=int, default=None, metavar="SECONDS",
                        help="how long the workflow waits for an expert to accept (default: the configured "
                             "accept_timeout_minutes)")
    args = parser.parse_args(argv)
    return DemoOptions(port=args.port, model=args.model, accept_wait_seconds=args.accept_wait)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The expert API's module sets botocore to INFO (never DEBUG, which would log task tokens); these two say
    # at INFO where each client found its credentials and endpoint, which the terminal does not need.
    for name in ("botocore.credentials", "botocore.configprovider"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Metrics are off here (local/demo.py DEMO_ENVIRONMENT); Powertools says so at every request otherwise.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    options = parse(sys.argv[1:] if argv is None else argv)
    print("Starting Tandem on this machine (no AWS account, no network)...", flush=True)
    try:
        demo = Demo(options).start()
    except (OSError, RuntimeError, ValueError) as error:
        print(f"make demo: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"Tandem is running ({demo.started_in_seconds:.1f} s to start). Open:")
    width = max(len(name) for name in demo.urls)
    for name, url in demo.urls.items():
        print(f"  {name:<{width}}  {url}")
    print("Answers:", "the offline stand-in model (it quotes local/knowledge/)" if options.model == "offline"
          else "Amazon Bedrock, with your AWS credentials")
    print("Press Ctrl-C to stop. Each function's log lines follow, as CloudWatch Logs would hold them.", flush=True)
    try:
        while not stop.is_set():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean stop short
    print("\nStopping...", flush=True)
    demo.stop()
    print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
