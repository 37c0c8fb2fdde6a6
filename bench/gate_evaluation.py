"""Gate evaluation: precision, recall and false escalations of "call a human" on the labelled set
(bench/gate_eval/), per detector and rule, with the configured thresholds and the calibrated ones.

The same measurement as `python -m tools.evaluate_gate` and tests/tools/test_evaluate_gate.py (which holds the
targets); here it is recorded with the date and the machine. Quality, not speed: the numbers do not depend
on the machine.
"""

from __future__ import annotations

from bench.common import OFFLINE_ENV, patched_environ


def run() -> str:
    from lambdas.common import clients
    from stacks.config import TandemConfig
    from tools.evaluate_gate import DEFAULT_SETS, DETECTORS, evaluate, load_messages, report

    defaults = TandemConfig()
    thresholds = {d: getattr(defaults, f"{d}_negative_threshold") for d in DETECTORS}
    with patched_environ(OFFLINE_ENV):
        clients.reset()
        messages = load_messages(DEFAULT_SETS)
        results = evaluate(messages, thresholds)
        clients.reset()
    return report(messages, results)


if __name__ == "__main__":
    print(run())
