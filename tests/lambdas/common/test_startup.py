"""Startup: what a handler builds once per execution environment, built during Lambda's init phase."""

from __future__ import annotations

from lambdas.common.startup import Startup


def test_it_builds_once_and_again_after_a_reset():
    built: list[int] = []
    startup = Startup(lambda: built.append(len(built)) or len(built))

    assert (startup.get(), startup.get()) == (1, 1)
    startup.reset()
    assert startup.get() == 2 and len(built) == 2


def test_a_reset_closes_what_was_built_and_only_that():
    closed: list[str] = []
    startup = Startup(lambda: "service", close=closed.append)

    startup.reset()  # nothing built yet: nothing to close
    startup.get()
    startup.reset()

    assert closed == ["service"]


def test_it_builds_during_init_only_inside_lambda(monkeypatch):
    built: list[str] = []
    startup = Startup(lambda: built.append("x"))
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)

    startup.prepare_during_init()
    assert built == []
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
    startup.prepare_during_init()
    assert built == ["x"]
