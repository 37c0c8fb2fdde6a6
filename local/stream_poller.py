"""Stands in for a Lambda event source mapping on a DynamoDB stream, for tests and local runs (moto keeps
the stream but runs no event source mapping).

It reads every shard of the table's stream from TRIM_HORIZON, hands the records to the real handler in
batches shaped as Lambda delivers them (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html), and
keeps Lambda's delivery rules: a batch whose handler reports `batchItemFailures` is checkpointed up to the
first failed record and delivered again from there; a handler that raises gets the whole batch again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import boto3
from botocore.config import Config

# botocore 1.44 calls account-based DynamoDB endpoints, which moto does not route; the classic ones work.
CLIENT_CONFIG = Config(account_id_endpoint_mode="disabled")

Handler = Callable[[dict[str, Any], Any], dict[str, Any] | None]


@dataclass
class _Shard:
    iterator: str | None
    pending: list[dict[str, Any]] = field(default_factory=list)  # delivered, not yet checkpointed


class StreamPoller:
    def __init__(self, table_name: str, handler: Handler, context: Any, *, batch_size: int = 100,
                 region: str | None = None, ddb: Any = None, streams: Any = None):
        """`ddb` and `streams`: the clients to read with (by default, boto3's for this process's environment)."""
        self.handler = handler
        self.context = context
        self.batch_size = batch_size
        self.ddb = ddb or boto3.client("dynamodb", region_name=region, config=CLIENT_CONFIG)
        self.streams = streams or boto3.client("dynamodbstreams", region_name=region, config=CLIENT_CONFIG)
        self.stream_arn = self.ddb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        self.shards: dict[str, _Shard] = {}
        self.invocations = 0
        self.failures = 0  # deliveries the handler reported failed or raised on

    def _refresh_shards(self) -> None:
        description = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        for shard in description["Shards"]:
            if shard["ShardId"] not in self.shards:
                iterator = self.streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard["ShardId"],
                                                           ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
                self.shards[shard["ShardId"]] = _Shard(iterator=iterator)

    def poll(self) -> int:
        """One delivery per shard that has records; returns how many records were checkpointed."""
        self._refresh_shards()
        done = 0
        for shard in self.shards.values():
            if shard.iterator and len(shard.pending) < self.batch_size:
                page = self.streams.get_records(ShardIterator=shard.iterator, Limit=self.batch_size)
                shard.iterator = page.get("NextShardIterator")
                shard.pending += [{**r, "eventSourceARN": self.stream_arn} for r in page["Records"]]
            if shard.pending:
                done += self._deliver(shard)
        return done

    def _deliver(self, shard: _Shard) -> int:
        batch = shard.pending[:self.batch_size]
        self.invocations += 1
        try:
            response = self.handler({"Records": batch}, self.context) or {}
        except Exception:  # noqa: BLE001 (Lambda retries the whole batch, whatever the handler raised)
            self.failures += 1
            return 0
        failed = [f["itemIdentifier"] for f in response.get("batchItemFailures", [])]
        if not failed:
            del shard.pending[:len(batch)]
            return len(batch)
        self.failures += 1
        sequence = [r["dynamodb"]["SequenceNumber"] for r in batch]
        first = min(sequence.index(f) for f in failed)  # Lambda resumes at the lowest reported record
        del shard.pending[:first]
        return first

    def drain(self, *, max_deliveries: int = 1000) -> None:
        """Delivers until every record so far is checkpointed; AssertionError if it never gets there."""
        for _ in range(max_deliveries):
            self.poll()
            if all(not s.pending for s in self.shards.values()) and self._caught_up():
                return
        raise AssertionError(f"the stream was not drained in {max_deliveries} deliveries "
                             f"({sum(len(s.pending) for s in self.shards.values())} records still pending)")

    def _caught_up(self) -> bool:
        """No records left to read in any shard."""
        for shard in self.shards.values():
            if shard.iterator:
                page = self.streams.get_records(ShardIterator=shard.iterator, Limit=self.batch_size)
                shard.iterator = page.get("NextShardIterator")
                shard.pending += [{**r, "eventSourceARN": self.stream_arn} for r in page["Records"]]
                if shard.pending:
                    return False
        return True
