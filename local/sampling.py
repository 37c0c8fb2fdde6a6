"""The demo's "take a sample now": the real feedback sampler (lambdas/feedback_sampler), run on demand over the
local AWS, so the raters' console has a rating batch of the answers given so far, and the experts' answers of
the escalations resolved since wait for a rating admin's review (lambdas/common/expert_answers.py).

Deployed, the sampler runs on a schedule (off by default) or when invoked, and its sample becomes a rating
batch when no Ground Truth workteam is configured (docs/rating-console.md). Here, two things differ, and the
page says so:
- personal data is not masked: Comprehend is not available offline (moto answers it with canned entities);
- each answer needs one rating (deployed: `labeling_workers_per_object`), so one person can see an answer's
  ratings become a record.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from lambdas.common.rating_files import DEFAULT_PREFIX
from lambdas.feedback_sampler.handler import build_sampler
from lambdas.feedback_sampler.settings import SamplerSettings
from local.aws import LocalAws

DEMO_RATINGS_PER_ITEM = 1


def sampler_settings(aws: LocalAws) -> SamplerSettings:
    """The sampler's settings as stacks/feedback_stack.py gives them, with the demo's resources and its two
    differences (no masking, one rating per answer)."""
    config = aws.config
    return SamplerSettings(
        transcripts_bucket=aws.names["transcripts_bucket"], ratings_bucket=aws.names["labeling_bucket"],
        ratings_prefix=DEFAULT_PREFIX, labeling_bucket=aws.names["labeling_bucket"],
        window_days=config.labeling_window_days, budget=config.labeling_budget, strategy=config.labeling_strategy,
        seed=config.labeling_seed, redact_pii=False, language_code=None, job=None,
        ratings_table=aws.names["ratings_table"],
        ratings_per_item=DEMO_RATINGS_PER_ITEM, rating_hold_seconds=config.labeling_task_time_limit_seconds)


def take_sample(aws: LocalAws, *, now: datetime | None = None) -> dict[str, Any]:
    """One sampler run now; its summary (`rating_batch` names the batch, when answers were sampled)."""
    settings = sampler_settings(aws)
    return build_sampler(settings).run(settings, now=now or datetime.now(timezone.utc))
