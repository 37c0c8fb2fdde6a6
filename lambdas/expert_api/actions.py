"""What an expert can do with an escalation: review it, accept it, reply, resolve it; and the knowledge-base
export of a resolved conversation. The rules are plain functions of their inputs and of the seams ExpertApi
holds, one small class per AWS service and purpose (the handler builds them; tests may hand in fakes):
EscalationStore and SessionStore (the sessions table), ReplyStore (an expert's reply, replies.py),
WorkflowTasks and WorkflowProbe (Step Functions, workflow.py), PiiMasker (Comprehend, lambdas/common/redaction.py)
and a BucketWriter (S3, lambdas/common/bucket_writer.py). The handler turns their outcomes and exceptions into HTTP.

A request is checked in a fixed order, and a refused one changes nothing: `authorize` (the link:
LinkInvalid 403, LinkExpired 410; the escalation: EscalationNotFound 404), `require_status`
(EscalationConflict 409), then the handler checks the fields (400) and calls accept / reply / resolve
with the authorized EscalationState. The task tokens are read from the table and handed to Step Functions
only; they never leave the rules in a return value, an exception message or a log line.

Accept claims the escalation first (a conditional write, so two experts clicking at once get one success
and one conflict; it is tied to the accept token stored at that moment) and then completes the workflow's
accept task with that token. When that call fails, the execution's history says what the workflow really did
(workflow.py): it took the accept (a lost response; the accept stands), it refused it (the wait had ended or
the execution is gone: the claim is undone, the expert is told, and the state machine's own path records
what happened and tells the customer), a reminder had just started the next round of the wait (the claim
stays: the escalation worker hands that round's token to it and completes it, lambdas/common/escalations.py),
or it still waits in the same round (the call was not applied: the claim is undone and the expert may try
again). A claim is undone only while its own token is the stored one; if the worker handed it a new round's
token first, the claim stands. When the history cannot be read either, the claim stays: the workflow's
time-out path is unconditional and settles the table.

A page or poll behind a link shows the conversation only up to the moment the escalation closed (resolved,
timed out, failed): what the customer says after the hand-back is not the expert's to read. A reply carries
an idempotency key from its form (`reply_id`), so a double-submitted form stores one turn.

The knowledge-base document of a resolved escalation holds the customer's and the expert's words, which
other customers may later read as excerpts: with `redact_pii` on, their personal data is masked first
(lambdas/common/redaction.py), and when that cannot be done the document is not written at all. Its metadata names the
escalation, never the customer's session or the expert.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import urlencode

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common import redaction, signing
from lambdas.common.bucket_writer import BucketWriter
from lambdas.common.escalations import EscalationConflict, EscalationState, EscalationStore
from lambdas.common.redaction import PiiMasker
from lambdas.common.session_store import SessionStore
from lambdas.common.transcript import EscalationRecord, Turn
from lambdas.expert_api.replies import ReplyNotStored, ReplyStore
from lambdas.expert_api.request import LinkParams
from lambdas.expert_api.settings import ExpertApiSettings
from lambdas.expert_api.workflow import WorkflowGone, WorkflowProbe, WorkflowTasks, WorkflowUnavailable

CLOSED_MESSAGE = "This conversation was closed by our expert."
KNOWLEDGE_SOURCE = "tandem-escalation"
MAX_METADATA_BYTES = 10_000  # Bedrock Knowledge Bases reject metadata files of 10 KB or more
PAGE_TURNS = 200  # the latest turns a page shows
# Statuses the state machine sets when it gives up: the escalation is over, not merely in another step.
ENDED = ("timed_out", "failed", "cancelled")
_SPEAKERS = {"customer": "Customer", "expert": "Expert"}


class WorkflowUnconfirmed(RuntimeError):
    """The accept call failed and the execution could not be read to tell whether it was taken (503); the
    claim stays, and the workflow's own time-out settles it if it was not. Carries the error code only."""


@dataclass(frozen=True)
class ExpertApi:
    settings: ExpertApiSettings
    key: bytes  # the link-signing key (read from Secrets Manager once, when the handler builds the API)
    escalations: EscalationStore
    sessions: SessionStore
    replies: ReplyStore
    tasks: WorkflowTasks  # completes the workflow's accept and resolve tasks
    workflow: WorkflowProbe  # what the workflow did with an accept whose completion failed
    masker: PiiMasker  # used when settings.redact_pii
    knowledge: BucketWriter


@dataclass(frozen=True)
class Link:
    """A signed link's query: what the pages put in their forms and the accept redirect hands over."""

    session_id: str
    expires: int
    sig: str

    @classmethod
    def of(cls, params: LinkParams) -> "Link":
        """The link a request carried (after authorize checked it)."""
        return cls(session_id=params.session_id, expires=int(params.exp), sig=params.sig)

    def query(self) -> str:
        return urlencode({"session_id": self.session_id, "exp": self.expires, "sig": self.sig})


@dataclass(frozen=True)
class Conversation:
    record: EscalationRecord
    turns: list[Turn]
    link: Link


@dataclass(frozen=True)
class Accepted:
    record: EscalationRecord
    work_link: Link
    confirmed_by_history: bool = False  # the call failed, the execution's history showed the accept taken
    next_round: bool = False  # the call failed as a reminder round began: the worker completes that round's task


@dataclass(frozen=True)
class Replied:
    turn: Turn
    duplicate: bool = False  # the same form was submitted before: nothing new was stored


@dataclass
class Resolved:
    record: EscalationRecord
    closed: bool
    knowledge_key: str | None = None
    # The knowledge export was skipped because personal data could not be masked: Comprehend's error code.
    knowledge_skipped: str | None = None
    # notified: the workflow's resolve task was completed here; waiting: the workflow has not asked for it
    # yet (the escalation worker completes it when it does); gone: the task had already ended.
    workflow: Literal["notified", "waiting", "gone"] = "waiting"
    workflow_error: str | None = None  # the Step Functions error code when gone
    problems: list[str] = field(default_factory=list)


# The link -----------------------------------------------------------------------------------------

def authorize(api: ExpertApi, action: signing.Action, escalation_id: str, params: LinkParams,
              *, now: float | None = None) -> EscalationState:
    """The escalation the link gives access to; LinkInvalid, LinkExpired or EscalationNotFound otherwise."""
    signing.verify(api.key, action=action, session_id=params.session_id, escalation_id=escalation_id,
                   expires=params.exp, signature=params.sig, now=now)
    return api.escalations.get(params.session_id, escalation_id)


def work_link(api: ExpertApi, session_id: str, escalation_id: str, *, now: float | None = None) -> Link:
    expires = int(time.time() if now is None else now) + api.settings.resolve_timeout_seconds
    return Link(session_id=session_id, expires=expires,
                sig=signing.sign(api.key, action="work", session_id=session_id, escalation_id=escalation_id,
                                 expires=expires))


def require_status(state: EscalationState, status: str, action: str) -> None:
    """EscalationConflict unless the escalation is in `status` (checked before the fields: 409 before 400)."""
    if state.record.status != status:
        raise EscalationConflict.of(state.record, action)


# Reading (never changes anything: mail scanners open links) ---------------------------------------

def visible_turns(api: ExpertApi, record: EscalationRecord, *, after: str | None = None) -> list[Turn]:
    """The conversation as far as a link to this escalation may show it: up to the moment it closed."""
    if after is None:
        return api.sessions.turns(record.session_id, limit=PAGE_TURNS, until=record.closed_at)
    return api.sessions.turns(record.session_id, after=after, until=record.closed_at)


def review(api: ExpertApi, escalation_id: str, params: LinkParams) -> Conversation:
    state = authorize(api, "review", escalation_id, params)
    return Conversation(record=state.record, turns=visible_turns(api, state.record), link=Link.of(params))


def console(api: ExpertApi, escalation_id: str, params: LinkParams) -> Conversation:
    state = authorize(api, "work", escalation_id, params)
    return Conversation(record=state.record, turns=visible_turns(api, state.record), link=Link.of(params))


def messages(api: ExpertApi, state: EscalationState, after: str | None) -> list[Turn]:
    """The turns created after `after` (a turn's created_at), or the latest ones: for polling."""
    return visible_turns(api, state.record, after=after)


# Changing -----------------------------------------------------------------------------------------

def accept(api: ExpertApi, state: EscalationState, expert: str, *, now: float | None = None) -> Accepted:
    """Claims an authorized, pending escalation for `expert` and completes the workflow's accept task."""
    session_id, escalation_id = state.record.session_id, state.record.escalation_id
    record, token, accept_round = api.escalations.accept(session_id, escalation_id, expert)
    link = work_link(api, session_id, escalation_id, now=now)
    try:
        api.tasks.complete(token, {"accepted_by": expert})
    except (WorkflowGone, WorkflowUnavailable) as failure:
        outcome = api.workflow.accept_outcome(state.execution_arn, accept_round)
        if outcome == "taken":
            return Accepted(record=record, work_link=link, confirmed_by_history=True)
        if outcome == "next_round":
            return Accepted(record=record, work_link=link, next_round=True)
        if outcome in ("refused", "waiting"):
            # The workflow did not take the accept: the escalation goes back to what it was (pending, no owner),
            # unless the worker handed this claim a new round's token meanwhile (it completes that one).
            if not api.escalations.undo_accept(session_id, escalation_id, expert=expert,
                                               accepted_at=record.accepted_at or "", token=token) \
                    and _handed_on(api.escalations.get(session_id, escalation_id), record, token):
                return Accepted(record=record, work_link=link, next_round=True)
            raise (WorkflowGone(str(failure)) if outcome == "refused" else WorkflowUnavailable(str(failure))) from None
        raise WorkflowUnconfirmed(str(failure)) from None
    return Accepted(record=record, work_link=link)


def _handed_on(now: EscalationState, claim: EscalationRecord, token: str) -> bool:
    """The claim still stands, tied to another round's token than the one it was made with."""
    return (now.record.status, now.record.accepted_by, now.record.accepted_at) == (
        "accepted", claim.accepted_by, claim.accepted_at) and now.accept_token != token


def reply(api: ExpertApi, state: EscalationState, text: str, *, reply_id: str | None = None) -> Replied:
    """Stores the accepting expert's message to the customer (an `expert` turn), in one transaction with a
    check that the escalation is still theirs: a reply racing the resolve cannot land after it. With a
    `reply_id` (the form's idempotency key) the reply is stored at most once: a second submission of the
    same form finds it and stores nothing."""
    require_status(state, "accepted", "reply to")
    record = state.record
    turn = Turn(role="expert", text=text, turn_id=reply_id) if reply_id else Turn(role="expert", text=text)
    try:
        api.replies.store(record, turn, reply_id=reply_id)
    except ReplyNotStored:
        earlier = api.replies.earlier(record.session_id, reply_id) if reply_id else None
        if earlier is not None:
            return Replied(turn=Turn(role="expert", text=text, turn_id=earlier[0], created_at=earlier[1]),
                           duplicate=True)
        require_status(api.escalations.get(record.session_id, record.escalation_id), "accepted", "reply to")
        raise
    return Replied(turn=turn)


def resolve(api: ExpertApi, state: EscalationState, note: str, close: bool) -> Resolved:
    """Resolves, then does the follow-ups: the customer's notice, the transcript, the workflow, the
    knowledge-base document. Once the escalation is resolved a follow-up failure no longer fails the request
    (a retry would be a 409): it is reported in `problems` for the handler to log and count. The export
    comes last: it may wait on Comprehend, and running out of time there must not keep the workflow waiting."""
    session_id, escalation_id = state.record.session_id, state.record.escalation_id
    expert = state.record.accepted_by or ""  # the work link is only ever handed to the expert who accepted
    record, token = api.escalations.resolve(session_id, escalation_id, expert=expert, note=note, close=close)
    outcome = Resolved(record=record, closed=close)

    # The customer's notice.
    try:
        session = api.sessions.load(session_id, None, recent_items=0)
        notice = Turn(role="system", text=CLOSED_MESSAGE if close else api.settings.handback_message)
        api.sessions.record(session, [notice])
    except (ClientError, BotoCoreError) as error:
        outcome.problems.append(f"handback:{type(error).__name__}")

    # The worker stores the resolve token when the workflow asks for it and completes the task itself if
    # the escalation is resolved by then. Re-reading after our write closes the gap between the two: at
    # least one side sees the other's write (a second SendTaskSuccess is refused and ignored).
    try:
        token = token or api.escalations.get(session_id, escalation_id).resolve_token
        if token:
            api.tasks.complete(token, {"resolved_by": expert, "closed": close})
            outcome.workflow = "notified"
    except WorkflowGone as gone:
        outcome.workflow, outcome.workflow_error = "gone", str(gone)
    except WorkflowUnavailable as error:
        outcome.problems.append(f"workflow:{error}")
    except (ClientError, BotoCoreError) as error:
        outcome.problems.append(f"workflow:{type(error).__name__}")

    try:
        outcome.knowledge_key = export_knowledge(api, record, api.sessions.turns(session_id))
    except redaction.RedactionFailed as failed:  # nothing was written: never the text unmasked
        outcome.knowledge_skipped = failed.code
    except (ClientError, BotoCoreError, ValueError) as error:
        outcome.problems.append(f"knowledge:{type(error).__name__}")
    return outcome


# The knowledge base ---------------------------------------------------------------------------------

def handled_turns(record: EscalationRecord, turns: list[Turn]) -> list[Turn]:
    """The customer's and the expert's turns from the one that raised the escalation onward."""
    start = next((i for i, t in enumerate(turns) if t.turn_id == record.turn_id), None)
    if start is None:
        selected = [t for t in turns if t.created_at >= record.requested_at]
    else:
        selected = turns[start:]
    if record.resolved_at:
        selected = [t for t in selected if t.created_at <= record.resolved_at]
    return [t for t in selected if t.role in _SPEAKERS]


def knowledge_document(record: EscalationRecord, turns: list[Turn]) -> str:
    """Plain text for a Bedrock Knowledge Base: one line per speaker turn (continuation lines indented so
    a message cannot pose as another speaker), then the expert's note."""

    def said(speaker: str, text: str) -> str:
        return f"{speaker}: " + "\n  ".join(text.strip().splitlines())

    lines = [f"A customer conversation handled by a human expert (escalation reason: {record.reason}).", ""]
    lines += [said(_SPEAKERS[t.role], t.text) for t in handled_turns(record, turns)]
    if record.note:
        lines += ["", said("Expert's note", record.note)]
    return "\n".join(lines) + "\n"


def knowledge_metadata(record: EscalationRecord) -> dict[str, dict[str, str]]:
    """What a knowledge-base query may filter on. No personal data: not the session id (a customer's
    pseudonym, the key to their conversation) nor the expert's name; the escalation id leads staff to both."""
    attributes = {
        "escalation_id": record.escalation_id, "reason": record.reason[:200],
        "resolved_at": record.resolved_at or "", "source": KNOWLEDGE_SOURCE,
    }
    return {"metadataAttributes": attributes}


def knowledge_keys(prefix: str, escalation_id: str) -> tuple[str, str]:
    document = f"{prefix}{escalation_id}.txt"
    return document, f"{document}.metadata.json"


def redact_conversation(record: EscalationRecord, turns: list[Turn], masker: PiiMasker,
                        language_code: str) -> tuple[EscalationRecord, list[Turn]]:
    """The handled turns and the expert's note with their personal data masked (experts may paste a
    customer's details too), checked together in as few Comprehend requests as fit. RedactionFailed if not."""
    turns = handled_turns(record, turns)
    *texts, note = masker.mask([t.text for t in turns] + [record.note or ""], language_code)
    return (replace(record, note=note if record.note else record.note),
            [replace(turn, text=text) for turn, text in zip(turns, texts, strict=True)])


def export_knowledge(api: ExpertApi, record: EscalationRecord, turns: list[Turn]) -> str:
    """Writes the document and its metadata file (same keys on a retry); returns the document's key.
    With `redact_pii` the document is masked first; RedactionFailed, and nothing written, if it cannot be."""
    document_key, metadata_key = knowledge_keys(api.settings.knowledge_prefix, record.escalation_id)
    metadata = json.dumps(knowledge_metadata(record), ensure_ascii=False).encode()
    if len(metadata) >= MAX_METADATA_BYTES:
        raise ValueError(f"knowledge metadata is {len(metadata)} bytes, over Bedrock's limit")
    if api.settings.redact_pii:
        record, turns = redact_conversation(record, turns, api.masker, api.settings.language_code or "")
    api.knowledge.put(document_key, knowledge_document(record, turns).encode(), "text/plain; charset=utf-8")
    api.knowledge.put(metadata_key, metadata, "application/json")
    return document_key
