"""bench/RESULTS.md's latest training table says what the code does: every configuration rerun through the
benchmark's own code path (bench/training_throughput.py measure: the job, its evaluation and its checks)
gives the recorded margins, log-probs, sequence KL and checks. Fixed seeds make them deterministic, so any
difference beyond the table's rounding means the code changed since the table was recorded."""

from __future__ import annotations

import pytest
import torch

from bench import training_throughput as bench
from bench.__main__ import BENCHMARKS, RESULTS

TITLE = f"### {BENCHMARKS['training_throughput']} (bench/training_throughput.py)"
RERUN = "rerun `.venv/bin/python -m bench training_throughput` and commit the table it appends to bench/RESULTS.md"


def latest_table(results: str) -> dict[tuple[str, str], dict[str, str]]:
    if TITLE not in results:
        raise AssertionError(f"bench/RESULTS.md holds no training table: {RERUN}")
    try:
        return bench.parse_table(results.rsplit(TITLE, 1)[1])
    except ValueError as error:
        raise AssertionError(f"the latest training table in bench/RESULTS.md is not this benchmark's: {error}; "
                             f"{RERUN}") from error


@pytest.fixture(scope="module")
def recorded() -> dict[tuple[str, str], dict[str, str]]:
    return latest_table(RESULTS.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def channels_and_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("training-bench")
    return bench.write_channels(root / "channels"), bench.save_models(root)


@pytest.fixture
def bench_threads():
    """The benchmark's thread count: another one sums floats in another order."""
    threads = torch.get_num_threads()
    torch.set_num_threads(bench.THREADS)
    yield
    torch.set_num_threads(threads)


def test_the_latest_table_holds_every_configuration(recorded):
    assert sorted(recorded) == sorted(bench.CONFIGURATIONS), RERUN


@pytest.mark.parametrize(("algorithm", "model"), bench.CONFIGURATIONS)
def test_the_code_gives_what_the_latest_table_records(algorithm, model, recorded, channels_and_models,
                                                      bench_threads, tmp_path):
    (train, evaluation), models = channels_and_models
    row = recorded.get((algorithm, model))
    assert row is not None, f"the latest training table has no row for {algorithm} on tiny {model}: {RERUN}"

    measured = bench.Outcome.from_metrics(bench.measure(algorithm, model, models[model], train, evaluation, tmp_path))

    differences = bench.Outcome.from_cells(row).differences(measured)
    assert not differences, (f"bench/RESULTS.md no longer matches the code for {algorithm} on tiny {model}: "
                             f"{'; '.join(differences)}. The code changed since the table was recorded: {RERUN}.")


def test_a_table_that_differs_from_the_code_is_told_apart():
    """The comparison itself: one printed digit of difference passes, two do not; a changed verdict never does."""
    recorded = bench.Outcome(0.387, 2.462, -6.481, -5.275, -6.868, -7.737, 3.418, ())
    assert recorded.differences(bench.Outcome(0.3874, 2.4615, -6.4808, -5.2752, -6.8677, -7.7371, 3.4183, ())) == []
    assert recorded.differences(bench.Outcome(0.387, 2.464, -6.481, -5.275, -6.868, -7.737, 3.418, ())) == [
        "margin_after recorded 2.462, measured 2.464000"]
    assert recorded.differences(bench.Outcome(0.387, 2.462, -6.481, -5.275, -6.868, -7.737, 3.418,
                                              ("kl_budget",))) == ["failed checks recorded [], measured ['kl_budget']"]


def test_a_row_reads_back_as_the_outcome_it_was_written_from():
    outcome = bench.Outcome(-0.002, 0.756, -6.014, -5.644, -6.012, -6.4, 0.38, ("kl_budget", "generation_empty"))
    cells = dict(zip(bench.HEADERS, ["reward-pg", "tiny llama", "0.005", "32", "8", "20.0", "160", *outcome.cells()],
                     strict=True))
    assert cells["checks"] == "FAILED: kl_budget, generation_empty"
    assert bench.Outcome.from_cells(cells) == outcome
    passed = bench.Outcome(-0.002, 0.756, -6.014, -5.644, -6.012, -6.4, 0.38, ())
    assert bench.Outcome.from_cells(dict(zip(bench.Outcome.HEADERS, passed.cells(), strict=True))) == passed
