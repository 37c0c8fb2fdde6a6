"""Where conversations are kept: the sessions table (with its stream), the transcripts bucket and the
knowledge bucket.

The `grant_*` methods are the only way a function gets at them: each adds the least-privilege policy for
what the function does. The names of the resources reach the function through its settings (each stack
puts `reference(...)` into the function's settings class, lambdas/*/settings.py). Other stacks read the
store through named exports, and `reference` declares the stack dependency each import needs
(CloudFormation records none for an export read by name, so `cdk deploy <one stack>` would otherwise not
deploy this one first).
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Fn, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from lambdas.common.session_store import ESCALATION_INDEX_ATTRIBUTES, ESCALATION_INDEX_KEYS, ESCALATIONS_BY_STATUS
from lambdas.common.transcript import TRANSCRIPTS_PREFIX
from stacks.constructs.nag import acknowledge, arn_ref
from stacks.constructs.python_function import PythonFunction
from stacks.constructs.secure_bucket import access_log_bucket, secure_bucket

# The item operations a function may be granted on the sessions table (a transaction is made of them).
SESSION_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem",
                   "dynamodb:ConditionCheckItem")


class ConversationStore(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, transcript_retention_days: int) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = access_log_bucket(self, "AccessLogs", retention_days=transcript_retention_days)
        self.transcripts = secure_bucket(self, "Transcripts", access_logs=self.access_logs,
                                         log_prefix="transcripts/", current_days=transcript_retention_days)
        # Documents a Bedrock Knowledge Base can ingest (an S3 data source): resolved escalations, for now.
        self.knowledge = secure_bucket(self, "Knowledge", access_logs=self.access_logs, log_prefix="knowledge/",
                                       current_days=transcript_retention_days)
        # The offline loop's files: labeling manifests, Ground Truth output, consolidated rating records.
        self.labeling = secure_bucket(self, "Labeling", access_logs=self.access_logs, log_prefix="labeling/",
                                      current_days=transcript_retention_days)
        self._stack = Stack.of(self)
        self.sessions = dynamodb.Table(
            self, "Sessions",
            partition_key=dynamodb.Attribute(name="session_id", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            time_to_live_attribute="expires_at",
            # The outbox: what follows a stored item is driven by this stream (stacks/outbox_stack.py).
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # The experts' inbox: every open escalation by one Query (lambdas/common/session_store.py). Sparse: only
        # ESCALATION items carry both keys. Its partition key is the status every writer already sets, so no
        # writer can leave it stale; a task token is never copied into it.
        status, requested_at = ESCALATION_INDEX_KEYS
        self.sessions.add_global_secondary_index(
            index_name=ESCALATIONS_BY_STATUS,
            partition_key=dynamodb.Attribute(name=status, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=requested_at, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(ESCALATION_INDEX_ATTRIBUTES),
        )
        # Other stacks read these through named exports (see _value): their policies then name the
        # resources the same way on every synth, so each cdk-nag acknowledgment can name its finding.
        assert self.sessions.table_stream_arn is not None  # the stream is set above
        self._exports: dict[str, str] = {
            "SessionsTableName": self.sessions.table_name, "SessionsTableArn": self.sessions.table_arn,
            "SessionsTableStreamArn": self.sessions.table_stream_arn,
            "TranscriptsBucketName": self.transcripts.bucket_name, "TranscriptsBucketArn": self.transcripts.bucket_arn,
            "KnowledgeBucketName": self.knowledge.bucket_name, "KnowledgeBucketArn": self.knowledge.bucket_arn,
            "LabelingBucketName": self.labeling.bucket_name, "LabelingBucketArn": self.labeling.bucket_arn,
        }
        for name, value in self._exports.items():
            CfnOutput(self, name, value=value, export_name=self._export_name(name))

    def _export_name(self, name: str) -> str:
        return f"{self._stack.stack_name}-{name}"

    def reference(self, consumer: Construct, name: str) -> str:
        """A store value (an export name of _exports) as the consumer's stack should refer to it."""
        stack = Stack.of(consumer)
        if stack is self._stack:
            return self._exports[name]
        stack.add_stack_dependency(self._stack, "imports the conversation store's exports")
        return Fn.import_value(self._export_name(name))

    def _nag_ref(self, consumer: Construct, name: str) -> str:
        """How cdk-nag prints this value in a finding of the consumer's stack."""
        if Stack.of(consumer) is self._stack:
            resource = {"SessionsTableArn": self.sessions, "TranscriptsBucketArn": self.transcripts,
                        "KnowledgeBucketArn": self.knowledge, "LabelingBucketArn": self.labeling}[name]
            return arn_ref(resource)
        return self._export_name(name)  # an imported value is printed as its export's name

    def grant_sessions(self, function: PythonFunction, *, policy_id: str, actions: tuple[str, ...]) -> iam.Policy:
        """The sessions table's item operations a function uses (of SESSION_ACTIONS), nothing else."""
        unknown = sorted(set(actions) - set(SESSION_ACTIONS))
        if unknown:
            raise ValueError(f"not a sessions-table item action: {', '.join(unknown)}")
        policy = iam.Policy(function, policy_id, roles=[function.role], statements=[
            iam.PolicyStatement(sid="SessionItems", actions=sorted(actions),
                                resources=[self.reference(function, "SessionsTableArn")])])
        return policy

    def grant_open_escalations(self, function: PythonFunction, *, policy_id: str) -> iam.Policy:
        """Query on the index of escalations by status (the experts' inbox lists the open ones), nothing else."""
        index = f"{self.reference(function, 'SessionsTableArn')}/index/{ESCALATIONS_BY_STATUS}"
        return iam.Policy(function, policy_id, roles=[function.role], statements=[
            iam.PolicyStatement(sid="EscalationsByStatus", actions=["dynamodb:Query"], resources=[index])])

    def grant_transcript_write(self, function: PythonFunction, *, policy_id: str) -> iam.Policy:
        """Object access to the transcripts prefix, and bucket listing (the stream consumer writes them)."""
        policy = iam.Policy(function, policy_id, roles=[function.role], statements=[
            iam.PolicyStatement(
                sid="TranscriptObjects", actions=["s3:GetObject", "s3:PutObject"],
                resources=[f"{self.reference(function, 'TranscriptsBucketArn')}/{TRANSCRIPTS_PREFIX}*"]),
            # S3 answers a GetObject for a missing key with 404 (NoSuchKey) only to callers allowed ListBucket
            # on the bucket, else 403; a GetObject request carries no s3:prefix, so a prefix condition here would
            # turn every new session's "no transcript yet" into AccessDenied. The bucket holds transcripts only.
            iam.PolicyStatement(
                sid="TranscriptListing", actions=["s3:ListBucket"],
                resources=[self.reference(function, "TranscriptsBucketArn")]),
        ])
        acknowledge(
            policy, f"AwsSolutions-IAM5[Resource::{self._nag_ref(function, 'TranscriptsBucketArn')}/{TRANSCRIPTS_PREFIX}*]",
            "Object access is limited to the transcripts/ prefix of the transcripts bucket (one object per "
            "session, named by a random id, so no finer ARN exists); the bucket holds nothing but transcripts.",
        )
        return policy

    def grant_transcript_read(self, function: PythonFunction, *, policy_id: str) -> iam.Policy:
        """Read-only access to the transcripts (the offline loop samples them)."""
        arn = self.reference(function, "TranscriptsBucketArn")
        policy = iam.Policy(function, policy_id, roles=[function.role], statements=[
            iam.PolicyStatement(sid="ReadTranscripts", actions=["s3:GetObject"],
                                resources=[f"{arn}/{TRANSCRIPTS_PREFIX}*"]),
            iam.PolicyStatement(sid="ListTranscripts", actions=["s3:ListBucket"], resources=[arn],
                                conditions={"StringLike": {"s3:prefix": [f"{TRANSCRIPTS_PREFIX}*"]}}),
        ])
        acknowledge(
            policy, f"AwsSolutions-IAM5[Resource::{self._nag_ref(function, 'TranscriptsBucketArn')}/{TRANSCRIPTS_PREFIX}*]",
            "Read-only access to the transcripts/ prefix (one object per session, named by a random id, so no "
            "finer ARN exists); listing is conditioned on that prefix.",
        )
        return policy

    def grant_knowledge_write(self, function: PythonFunction, *, prefix: str) -> iam.Policy:
        """PutObject under one prefix of the knowledge bucket (documents and their .metadata.json)."""
        policy = iam.Policy(function, "KnowledgeExport", roles=[function.role], statements=[
            iam.PolicyStatement(sid="KnowledgeDocuments", actions=["s3:PutObject"],
                                resources=[f"{self.reference(function, 'KnowledgeBucketArn')}/{prefix}*"]),
        ])
        acknowledge(
            policy, f"AwsSolutions-IAM5[Resource::{self._nag_ref(function, 'KnowledgeBucketArn')}/{prefix}*]",
            f"Write-only access to the {prefix} prefix of the knowledge bucket: one document (and its metadata "
            "file) per resolved escalation, named by a random id, so no finer ARN exists.",
        )
        return policy

    def grant_labeling(self, grantee: iam.IRole, scope: Construct, policy_id: str, *, read: tuple[str, ...] = (),
                       write: tuple[str, ...] = (), why: str) -> iam.Policy:
        """Object access to prefixes of the labeling bucket (and listing it, so missing objects read as 404)."""
        arn = self.reference(scope, "LabelingBucketArn")
        statements = []
        if read:
            statements += [
                iam.PolicyStatement(sid="ReadLabeling", actions=["s3:GetObject"], resources=[f"{arn}/{p}*" for p in read]),
                # Unconditioned for the same reason as TranscriptListing: a missing ratings file must read as 404.
                iam.PolicyStatement(sid="ListLabeling", actions=["s3:ListBucket"], resources=[arn])]
        if write:
            statements.append(iam.PolicyStatement(sid="WriteLabeling", actions=["s3:PutObject"],
                                                  resources=[f"{arn}/{p}*" for p in write]))
        policy = iam.Policy(scope, policy_id, roles=[grantee], statements=statements)
        for prefix in sorted(set(read) | set(write)):
            acknowledge(policy, f"AwsSolutions-IAM5[Resource::{self._nag_ref(scope, 'LabelingBucketArn')}/{prefix}*]",
                        f"Access limited to the {prefix} prefix of the labeling bucket, whose objects are named per "
                        f"labeling job and item, so no finer ARN exists: {why}")
        return policy
