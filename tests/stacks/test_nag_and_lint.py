"""cdk-nag AwsSolutions on the real app (zero unacknowledged findings) and cfn-lint on its templates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks

from app import build_app
from local.cdk_app import app_context
from stacks.config import load_config
from stacks.data_stack import DataStack
from stacks.finetune_stack import FinetuneStack
from stacks.web_stack import WebStack


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory) -> Path:
    outdir = tmp_path_factory.mktemp("cdk.out")
    build_app(cdk.App(context=app_context(), outdir=str(outdir))).synth()  # raises on any finding
    return outdir


def test_real_app_has_no_unacknowledged_findings(synthesized):
    report = synthesized / "validation-report.json"
    if report.exists():  # only written when a plugin reports something
        violations = [v for p in json.loads(report.read_text())["pluginReports"] for v in p["violations"]]
        assert violations == []
    assert list(synthesized.glob("*.template.json"))


# Every acknowledgment in the app, where it sits and what it covers. A new one must be added here on
# purpose: an acknowledgment is a reviewed decision, not a way to silence a finding.
TRANSCRIPTS = "AwsSolutions-IAM5[Resource::TandemData-TranscriptsBucketArn/transcripts/*]"
WILDCARD = "AwsSolutions-IAM5[Resource::*]"
# CDK's singleton function behind every BucketDeployment of a stack (its id is CDK's, with the memory size).
BUCKET_DEPLOYMENT = "/TandemWebContent/Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C256MiB"
EXPECTED_ACKNOWLEDGMENTS = {
    # Chatbot
    ("/TandemChatbot/Chatbot/Role", WILDCARD),  # X-Ray
    ("/TandemChatbot/ChatbotSentiment", WILDCARD),  # comprehend:DetectSentiment
    ("/TandemChatbot/Customers", "AwsSolutions-COG2"),
    ("/TandemChatbot/Customers", "AwsSolutions-COG8"),
    ("/TandemChatbot/ChatApi", "AwsSolutions-APIG3"),
    ("/TandemData/ApiGatewayLogging",
     "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]"),
    ("/TandemChatbot/Chatbot/Function", "@aws-cdk/aws-lambda:snapStartRequirePublish"),
    # Escalation
    ("/TandemEscalation/ExpertApi", "AwsSolutions-APIG2"),  # no JSON schema: HTML forms, checked in the Lambda
    ("/TandemEscalation/ExpertApi", "AwsSolutions-APIG3"),
    ("/TandemEscalation/ExpertApi", "AwsSolutions-APIG4"),  # signed links instead of an authorizer
    ("/TandemEscalation/ExpertApi", "AwsSolutions-COG4"),
    ("/TandemEscalation/ExpertApiFunctionWorkflowHistory",  # its own executions' history, read-only
     "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
     "<HumanEscalation8386C1C4.Name>:*]"),
    ("/TandemEscalation/ExpertApiFunction/KnowledgeExport",
     "AwsSolutions-IAM5[Resource::TandemData-KnowledgeBucketArn/escalations/*]"),
    ("/TandemEscalation/ExpertApiFunction/Role", WILDCARD),  # X-Ray
    ("/TandemEscalation/ExpertApiFunctionTaskResults", WILDCARD),  # states:SendTaskSuccess
    ("/TandemEscalation/ExpertApiPiiRedaction", WILDCARD),  # comprehend:DetectPiiEntities
    ("/TandemEscalation/Worker/Role", WILDCARD),  # X-Ray
    ("/TandemEscalation/WorkerTaskResults", WILDCARD),  # states:SendTaskSuccess
    ("/TandemEscalation/WorkflowRole", WILDCARD),  # Step Functions log delivery and X-Ray
    ("/TandemEscalation/LinkSigningKey", "AwsSolutions-SMG4"),
    ("/TandemEscalation/WorkDeadLetters", "AwsSolutions-SQS3"),
    # The outbox: the stream consumer writes transcripts; its failed-batch queue is itself a destination.
    ("/TandemOutbox/StreamConsumer/TranscriptWrite", TRANSCRIPTS),
    ("/TandemOutbox/StreamConsumer/Role", WILDCARD),  # X-Ray
    ("/TandemOutbox/FailedBatches", "AwsSolutions-SQS3"),
    ("/TandemOutbox/StreamConsumer/LivePush",  # any connection of the live stage, POST only
     "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:"
     "TandemLive-LiveApiId/live/POST/@connections/*]"),
    ("/TandemOutbox/StreamConsumer/LivePush", "AwsSolutions-IAM5[Resource::TandemLive-ConnectionsTableArn/index/*]"),
    # The live channel: authorized at $connect only (API Gateway's rule); its table holds open connections.
    ("/TandemLive/LiveApi/$disconnect-Route", "AwsSolutions-APIG4"),
    ("/TandemLive/LiveApi/$default-Route", "AwsSolutions-APIG4"),
    ("/TandemLive/Connections", "AwsSolutions-DDB3"),
    ("/TandemLive/ChatSocket/Role", WILDCARD),  # X-Ray
    ("/TandemLive/SocketAuthorizer/Role", WILDCARD),  # X-Ray
    # Feedback: prefixes of the labeling bucket, one finding per prefix
    *[(f"/TandemFeedback/{who}", f"AwsSolutions-IAM5[Resource::TandemData-LabelingBucketArn/{prefix}*]")
      for who, prefixes in {"Consolidation/LabelingAccess": ("manifests/", "output/", "ratings/"),
                            "LabelingJobData": ("manifests/", "output/"),
                            "PreAnnotation/LabelingAccess": ("manifests/", "ratings/"),
                            "Sampler/LabelingAccess": ("manifests/", "ratings/", "thumbs/"),
                            "RatingApiFunction/LabelingAccess": ("ratings/console/", "expert-answers/")}.items()
      for prefix in prefixes],
    ("/TandemFeedback/Consolidation/Role", WILDCARD),  # X-Ray
    ("/TandemFeedback/PreAnnotation/Role", WILDCARD),  # X-Ray
    ("/TandemFeedback/Sampler/Role", WILDCARD),  # X-Ray
    ("/TandemFeedback/RatingApiFunction/Role", WILDCARD),  # X-Ray
    ("/TandemFeedback/RatingApi", "AwsSolutions-APIG2"),  # checked in the Lambda, every field named
    ("/TandemFeedback/RatingApi", "AwsSolutions-APIG3"),  # no WAF by default; Cognito and throttling
    ("/TandemFeedback/Sampler/TranscriptRead", "AwsSolutions-IAM5[Resource::TandemData-TranscriptsBucketArn/transcripts/*]"),
    ("/TandemFeedback/SamplerActions", WILDCARD),  # comprehend:DetectPiiEntities
    ("/TandemFeedback/SamplerActions",
     "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:"
     "labeling-job/tandem-feedback-*]"),
    ("/TandemFeedback/ConsolidationActions",  # sagemaker:DescribeLabelingJob: a cloned job may have any name
     "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:labeling-job/*]"),
    ("/TandemFeedback/LabelingJobLogs", WILDCARD),  # cloudwatch:PutMetricData, namespace-conditioned
    ("/TandemFeedback/LabelingJobLogs",
     "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
     "/aws/sagemaker/LabelingJobs*]"),
    # Fine-tuning (cdk.json defaults: no Bedrock import, hub base model). The artifacts bucket is the
    # stack's own, so cdk-nag names it by its logical id.
    ("/TandemFinetune/Dataset/Role", WILDCARD),  # X-Ray
    ("/TandemFinetune/Dataset/RatingsRead", "AwsSolutions-IAM5[Resource::TandemData-LabelingBucketArn/ratings/*]"),
    ("/TandemFinetune/Dataset/RatingsRead", "AwsSolutions-IAM5[Resource::TandemData-LabelingBucketArn/thumbs/*]"),
    ("/TandemFinetune/Dataset/RatingsRead",
     "AwsSolutions-IAM5[Resource::TandemData-LabelingBucketArn/expert-answers/*]"),
    ("/TandemFinetune/Dataset/DatasetWrite", "AwsSolutions-IAM5[Resource::<Artifacts82DD59A1.Arn>/datasets/*]"),
    ("/TandemFinetune/Gate/Role", WILDCARD),  # X-Ray
    ("/TandemFinetune/Gate/GateFiles", "AwsSolutions-IAM5[Resource::<Artifacts82DD59A1.Arn>/models/*]"),
    ("/TandemFinetune/Gate/GateFiles", "AwsSolutions-IAM5[Resource::<Artifacts82DD59A1.Arn>/reports/*]"),
    ("/TandemFinetune/TrainingData", "AwsSolutions-IAM5[Resource::<Artifacts82DD59A1.Arn>/datasets/*]"),
    ("/TandemFinetune/TrainingData", "AwsSolutions-IAM5[Resource::<Artifacts82DD59A1.Arn>/models/*]"),
    ("/TandemFinetune/TrainingRuntime", WILDCARD),  # ecr:GetAuthorizationToken, cloudwatch:PutMetricData (namespace)
    ("/TandemFinetune/TrainingRuntime",
     "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
     "/aws/sagemaker/TrainingJobs*]"),
    ("/TandemFinetune/PipelineIntegrations",
     "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:"
     "training-job/tandem-ft-*]"),
    ("/TandemFinetune/PipelineRole", WILDCARD),  # Step Functions log delivery and X-Ray
    # The web app: CloudFront's default certificate (no web_domain_name), no geo restriction, no WAF by default.
    *[("/TandemWeb/Distribution", f"AwsSolutions-CFR{rule}") for rule in (1, 2, 4)],
    # CDK's BucketDeployment function (publishes web/ and config.json): CDK's code, role and runtime.
    (BUCKET_DEPLOYMENT, "AwsSolutions-L1"),
    (f"{BUCKET_DEPLOYMENT}/ServiceRole",
     "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"),
    *[(f"{BUCKET_DEPLOYMENT}/ServiceRole/DefaultPolicy", finding) for finding in (
        *(f"AwsSolutions-IAM5[Action::s3:{action}*]" for action in ("GetBucket", "GetObject", "List", "Abort",
                                                                    "DeleteObject")),
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*]",
        "AwsSolutions-IAM5[Resource::TandemWeb-SiteBucketArn/*]",
        WILDCARD,  # cloudfront:CreateInvalidation
    )],
}


def acknowledgments(outdir: Path) -> dict[tuple[str, str], str]:
    found = {}
    for metadata in outdir.glob("*.metadata.json"):
        for path, entries in json.loads(metadata.read_text()).items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules":
                    for rule, reason in entry["data"].items():
                        found[(path, rule.removeprefix("Annotation::"))] = reason
    return found


def test_acknowledgments_are_the_reviewed_ones_with_reasons(synthesized):
    found = acknowledgments(synthesized)
    assert set(found) == EXPECTED_ACKNOWLEDGMENTS
    for (path, rule), reason in found.items():
        assert len(reason) >= 80, f"{rule} on {path} needs a reason naming the covering control"


# What fine-tuning with Bedrock import and a base model in S3 adds to the defaults' acknowledgments.
FINETUNE_OPTION_ACKNOWLEDGMENTS = {
    ("/TandemFinetune/ImportRead", "AwsSolutions-IAM5[Resource::<Artifacts82DD59A1.Arn>/models/*]"),
    ("/TandemFinetune/TrainingData", "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::my-models/base/*]"),
    *[("/TandemFinetune/PipelineIntegrations",
       f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:{resource}/*]")
      for resource in ("model-import-job", "imported-model")],
}


def finetune_acknowledgments(outdir: Path, **context: object) -> set[tuple[str, str]]:
    """TandemFinetune synthesized with `context` under cdk-nag, which raises on any unacknowledged finding;
    the acknowledgments it carries."""
    values = app_context(**context)
    app = cdk.App(context=values, outdir=str(outdir))
    config = load_config(values)
    FinetuneStack(app, "TandemFinetune", config=config, store=DataStack(app, "TandemData", config=config).store)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()
    return {key for key in acknowledgments(outdir) if key[0].startswith("/TandemFinetune/")}


def test_finetune_options_have_no_unacknowledged_findings(tmp_path):
    found = finetune_acknowledgments(tmp_path, finetune_import_model=True, finetune_base_model="s3://my-models/base/",
                                     finetune_notify_email="ml-team@example.com")
    defaults = {key for key in EXPECTED_ACKNOWLEDGMENTS if key[0].startswith("/TandemFinetune/")}
    assert found == defaults | FINETUNE_OPTION_ACKNOWLEDGMENTS


# The Bedrock path replaces the SageMaker job's acknowledgments with its own: the customization role's, the
# answers function's and the workflow's Bedrock resources named at run time.
BEDROCK_PATH_ACKNOWLEDGMENTS = {
    ("/TandemFinetune/Dataset/Role", WILDCARD),
    ("/TandemFinetune/Dataset/RatingsRead", "AwsSolutions-IAM5[Resource::TandemData-LabelingBucketArn/ratings/*]"),
    ("/TandemFinetune/Dataset/RatingsRead", "AwsSolutions-IAM5[Resource::TandemData-LabelingBucketArn/thumbs/*]"),
    ("/TandemFinetune/Dataset/RatingsRead",
     "AwsSolutions-IAM5[Resource::TandemData-LabelingBucketArn/expert-answers/*]"),
    ("/TandemFinetune/Dataset/DatasetWrite", "AwsSolutions-IAM5[Resource::<Artifacts82DD59A1.Arn>/datasets/*]"),
    ("/TandemFinetune/Gate/Role", WILDCARD),
    ("/TandemFinetune/Gate/GateFiles", "AwsSolutions-IAM5[Resource::<Artifacts82DD59A1.Arn>/models/*]"),
    ("/TandemFinetune/Gate/GateFiles", "AwsSolutions-IAM5[Resource::<Artifacts82DD59A1.Arn>/reports/*]"),
    ("/TandemFinetune/Answers/Role", WILDCARD),
    ("/TandemFinetune/Answers/AnswersAccess", "AwsSolutions-IAM5[Resource::<Artifacts82DD59A1.Arn>/datasets/*]"),
    ("/TandemFinetune/Answers/AnswersAccess", "AwsSolutions-IAM5[Resource::<Artifacts82DD59A1.Arn>/reports/*]"),
    ("/TandemFinetune/Answers/AnswersAccess",
     "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:"
     "custom-model-deployment/*]"),
    ("/TandemFinetune/CustomizationData", "AwsSolutions-IAM5[Resource::<Artifacts82DD59A1.Arn>/datasets/*]"),
    ("/TandemFinetune/CustomizationData", "AwsSolutions-IAM5[Resource::<Artifacts82DD59A1.Arn>/models/*]"),
    *[("/TandemFinetune/PipelineIntegrations",
       f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:{resource}/*]")
      for resource in ("model-customization-job", "custom-model", "custom-model-deployment")],
    ("/TandemFinetune/PipelineRole", WILDCARD),
}


def test_the_bedrock_path_has_no_unacknowledged_findings(tmp_path):
    assert finetune_acknowledgments(tmp_path, finetune_path="bedrock") == BEDROCK_PATH_ACKNOWLEDGMENTS


def test_a_custom_web_domain_needs_no_certificate_acknowledgment(tmp_path):
    context = app_context(web_domain_name="chat.example.com",
                          web_certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/"
                                              "12345678-1234-1234-1234-123456789012")
    app = cdk.App(context=context, outdir=str(tmp_path))
    WebStack(app, "TandemWeb", config=load_config(context))
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    app.synth()  # raises on any finding: TLSv1.2_2021 satisfies CFR4 on its own
    found = {key for key in acknowledgments(tmp_path) if key[0].startswith("/TandemWeb/")}
    assert found == {key for key in EXPECTED_ACKNOWLEDGMENTS if key[0].startswith("/TandemWeb/")} - {
        ("/TandemWeb/Distribution", "AwsSolutions-CFR4")}


def test_nag_fails_on_a_bare_bucket(tmp_path):
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Bare")
    s3.Bucket(stack, "Bucket")  # no SSL enforcement, no access logs
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    rules = {v["ruleName"] for p in json.loads((tmp_path / "validation-report.json").read_text())["pluginReports"]
             for v in p["violations"]}
    assert {"AwsSolutions-S1", "AwsSolutions-S10"} <= rules


def test_cfn_lint_finds_no_errors(synthesized):
    templates = sorted(str(p) for p in synthesized.glob("*.template.json"))
    result = subprocess.run([str(Path(sys.executable).with_name("cfn-lint")), "--non-zero-exit-code", "error", *templates],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
