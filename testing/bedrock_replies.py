"""Canned replies in the exact shapes botocore parses for Bedrock Converse and Comprehend (AWS-CONTRACTS.md),
shared by the tests and the benchmarks."""

from __future__ import annotations

from typing import Any


def converse_text(text: str, stop_reason: str = "end_turn") -> dict[str, Any]:
    return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": stop_reason,
            "usage": {"inputTokens": 12, "outputTokens": 7, "totalTokens": 19}, "metrics": {"latencyMs": 150}}


def converse_verdict(label: Any, score: Any, reason: Any = "tone of the message",
                     asks_for_human: Any = False) -> dict[str, Any]:
    """The gate model calling the GateVerdict tool with these arguments (as given: tests send off-format ones)."""
    tool_use = {"toolUseId": "tooluse_1", "name": "GateVerdict",
                "input": {"label": label, "score": score, "asks_for_human": asks_for_human, "reason": reason}}
    return {"output": {"message": {"role": "assistant", "content": [{"toolUse": tool_use}]}}, "stopReason": "tool_use",
            "usage": {"inputTokens": 30, "outputTokens": 20, "totalTokens": 50}, "metrics": {"latencyMs": 90}}


def comprehend_result(sentiment: str, negative: float = 0.0, positive: float = 0.0,
                      neutral: float = 0.0, mixed: float = 0.0) -> dict[str, Any]:
    return {"Sentiment": sentiment,
            "SentimentScore": {"Positive": positive, "Negative": negative, "Neutral": neutral, "Mixed": mixed}}
