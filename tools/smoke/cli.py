"""The command: `python -m tools.smoke [--region R] [--keep] [--timeout S]` (`make smoke`).

Builds the real seams (boto3 clients of the region, the chat API over HTTPS, the system clock) and runs
tools/smoke/run.py. Exit codes: 0 every check passed; 1 a check failed (the report names it); 2 the command
could not start (bad arguments, no region).
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import boto3
from botocore.config import Config

from tools.smoke.chat import UrllibChatApi
from tools.smoke.clock import SystemClock
from tools.smoke.run import DEFAULT_TIMEOUT_SECONDS, AwsClients, SmokeTest

EXIT_USAGE = 2
CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 4}, connect_timeout=5, read_timeout=30)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.smoke",
        description="Checks a deployed Tandem end to end with a throw-away customer, then deletes what it created.")
    parser.add_argument("--region", help="the deployment's region (default: the AWS CLI's, e.g. AWS_REGION)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the user, the session, its transcript and the running workflow for a look")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, metavar="S",
                        help="seconds to wait for each thing the outbox does asynchronously (default: %(default)g)")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be a positive number of seconds")
    return args


def aws_clients(session: boto3.session.Session) -> AwsClients:
    def client(service: str) -> object:
        return session.client(service, config=CLIENT_CONFIG)

    return AwsClients(cloudformation=client("cloudformation"), cognito=client("cognito-idp"),
                      dynamodb=client("dynamodb"), s3=client("s3"), stepfunctions=client("stepfunctions"),
                      sns=client("sns"), bedrock=client("bedrock"))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    session = boto3.session.Session(region_name=args.region)
    if not session.region_name:
        print("error: no region: pass --region or set AWS_REGION (or a region in the AWS CLI's profile)",
              file=sys.stderr)
        return EXIT_USAGE
    smoke = SmokeTest(aws=aws_clients(session), region=session.region_name, chat_api=UrllibChatApi,
                      clock=SystemClock(), out=sys.stdout, timeout=args.timeout, keep=args.keep)
    return smoke.run()
