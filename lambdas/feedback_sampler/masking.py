"""The seam between the sampler and Amazon Comprehend: the personal data of texts masked
(lambdas/common/redaction.py, shared with the expert API, holds the masking and the calls). A failure is
RedactionFailed carrying the error code only; what it means for the run is the sampler's rule (sampler.py:
nothing is written)."""

from __future__ import annotations

from typing import Sequence

from lambdas.common import redaction


class PiiMasker:
    def mask(self, texts: Sequence[str], language_code: str) -> list[str]:
        """Each text with its personal data masked, in the order given."""
        return redaction.redact_texts(texts, language_code)
