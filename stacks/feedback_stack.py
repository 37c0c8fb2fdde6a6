"""FeedbackStack: expert ratings of logged bot answers, through a SageMaker Ground Truth custom labeling job.

- lambdas/feedback_sampler: picks bot turns from the transcripts (schedule, off by default, or on demand),
  masks personal data, writes the input manifest and starts the labeling job (or stops after the
  manifest when no workteam is configured: Ground Truth is closed to new AWS customers).
- lambdas/groundtruth_pre and lambdas/groundtruth_post: the job's pre-annotation and consolidation Lambdas;
  the latter writes the rating records every other rating source (tools/import_ratings.py) writes too.
- groundtruth_templates/relevance.liquid.html, deployed as an S3 asset.
The labeling role names our Lambdas and bucket explicitly instead of relying on the names the managed
AmazonSageMakerGroundTruthExecution policy expects (AWS-CONTRACTS.md).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from lambdas.common.expert_answers import EXPERT_ANSWERS_PREFIX
from lambdas.common.rating_batches import BATCHES_BY_STATUS, CONSOLE_SOURCE, OPEN_ITEMS
from lambdas.common.rating_files import DEFAULT_PREFIX as DEFAULT_RATINGS_PREFIX
from lambdas.common.thumbs import THUMBS_PREFIX
from lambdas.feedback_sampler.settings import JobSettings, SamplerSettings
from lambdas.groundtruth_post.settings import PostSettings
from lambdas.groundtruth_pre.settings import PreSettings
from lambdas.rating_api.settings import RatingApiSettings
from stacks.config import TandemConfig
from stacks.constructs.conversation_store import ConversationStore
from stacks.constructs.nag import acknowledge
from stacks.constructs.python_function import PythonFunction
from stacks.constructs.rest_api import logged_rest_api

TEMPLATE = Path(__file__).resolve().parents[1] / "groundtruth_templates" / "relevance.liquid.html"
LABEL_ATTRIBUTE = "relevance"
MANIFESTS, OUTPUT, RATINGS = "manifests/", "output/", DEFAULT_RATINGS_PREFIX
JOB_NAME_PREFIX = "tandem-feedback"  # the sampler names each job <prefix>-<UTC time>
CONSOLIDATION_TMP_MB = 4096
CONSOLE_RATINGS = f"{RATINGS}{CONSOLE_SOURCE}/"  # the rating console's records: one file per item
# What the rating API does with the ratings table (lambdas/common/rating_batches.py): never a scan or a delete.
# (Creating a batch is the sampler's.)
RATING_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:TransactWriteItems")
SAMPLER_TABLE_ACTIONS = ("dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:GetItem")
RATING_RATE_LIMIT = 20
RATING_BURST_LIMIT = 40


class FeedbackStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: TandemConfig, store: ConversationStore,
                 user_pool: cognito.IUserPool, site_url: str = "", **kwargs) -> None:
        """user_pool: where raters and rating admins sign in (the customers' pool, its `raters` and
        `rating-admins` groups); site_url: the web app's address, whose rating page calls the rating API."""
        super().__init__(scope, construct_id, **kwargs)
        self.user_pool = user_pool
        self.site_url = site_url
        bucket = store.reference(self, "LabelingBucketName")

        self.template = s3_assets.Asset(self, "RelevanceTemplate", path=str(TEMPLATE))
        self.pre = PythonFunction(self, "PreAnnotation", name="groundtruth_pre",
                                  description="Tandem Ground Truth pre-annotation: the task a rater sees",
                                  memory_size=256, timeout=Duration.seconds(30),
                                  log_retention_days=config.log_retention_days,
                                  environment=PreSettings(ratings_bucket=bucket, ratings_prefix=RATINGS).to_env())
        store.grant_labeling(self.pre.role, self.pre, "LabelingAccess", read=(MANIFESTS, RATINGS),
                             why="the pre-annotation Lambda reads source-ref items and the ratings already given.")
        self.post = PythonFunction(self, "Consolidation", name="groundtruth_post",
                                   description="Tandem Ground Truth consolidation: median rating per answer",
                                   memory_size=512, timeout=Duration.minutes(5),
                                   log_retention_days=config.log_retention_days,
                                   environment=PostSettings(ratings_bucket=bucket, ratings_prefix=RATINGS).to_env())
        store.grant_labeling(self.post.role, self.post, "LabelingAccess", read=(OUTPUT, RATINGS, MANIFESTS),
                             write=(RATINGS,),
                             why="the consolidation Lambda streams the annotation payloads Ground Truth writes under "
                                 "output/, reads the job's input manifest under manifests/ and writes one rating file "
                                 "per job under ratings/.")
        self._consolidation_extras()

        self.ratings = self._ratings_table()
        self.rating_function = self._rating_function(config, store)
        self.rating_api = self._rating_api(config)
        self.labeling_role = self._labeling_role(store)
        workteam_arn = self._workteam(config)
        self.sampler = self._sampler(config, store, workteam_arn)

        CfnOutput(self, "RatingApiUrl", value=self.rating_api.url, description="The rating page's API")
        CfnOutput(self, "SamplerFunctionName", value=self.sampler.function.function_name)
        CfnOutput(self, "LabelingRoleArn", value=self.labeling_role.role_arn)
        CfnOutput(self, "TemplateS3Uri", value=self.template.s3_object_url)

    def _consolidation_extras(self) -> None:
        """Ground Truth sends the consolidation Lambda each data object's `source` value only; the Lambda finds
        the labeling item in the job's input manifest, whose location it asks of SageMaker (docs/ground-truth.md)."""
        policy = iam.Policy(self, "ConsolidationActions", roles=[self.post.role], statements=[
            iam.PolicyStatement(sid="FindInputManifest", actions=["sagemaker:DescribeLabelingJob"],
                                resources=[f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:"
                                           "labeling-job/*"]),
        ])
        acknowledge(
            policy, "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:"
                    "labeling-job/*]",
            "A job cloned in the console may have any name, and the consolidation Lambda must find the input "
            "manifest of whichever job calls it; DescribeLabelingJob only reads a job's settings, in this account "
            "and region.",
        )
        # /tmp holds the job's input manifest (indexed once per execution environment) and, while a batch is
        # merged, the job's ratings file twice (lambdas/groundtruth_post): 512 MB, the default, is too small for
        # a 100,000-object job.
        function = self.post.function.node.default_child
        assert isinstance(function, lambda_.CfnFunction)
        function.ephemeral_storage = lambda_.CfnFunction.EphemeralStorageProperty(size=CONSOLIDATION_TMP_MB)

    def _ratings_table(self) -> dynamodb.Table:
        """Tandem's own rating batches (lambdas/common/rating_batches.py): raters' work in progress and the
        ratings given, kept like the conversations (point-in-time recovery, retained on stack deletion)."""
        table = dynamodb.Table(
            self, "Ratings",
            partition_key=dynamodb.Attribute(name="batch_id", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        table.add_global_secondary_index(  # sparse: an item leaves it once consolidated
            index_name=OPEN_ITEMS,
            partition_key=dynamodb.Attribute(name="batch_id", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="open_sk", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL)
        table.add_global_secondary_index(  # sparse: only a batch's own row has a status
            index_name=BATCHES_BY_STATUS,
            partition_key=dynamodb.Attribute(name="status", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="created_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY)
        return table

    def _rating_function(self, config: TandemConfig, store: ConversationStore) -> PythonFunction:
        settings = RatingApiSettings(ratings_table=self.ratings.table_name,
                                     ratings_bucket=store.reference(self, "LabelingBucketName"),
                                     ratings_prefix=RATINGS, site_url=self.site_url)
        function = PythonFunction(self, "RatingApiFunction", name="rating_api",
                                  description="Tandem rating API: raters rate sampled answers, one item at a time",
                                  memory_size=512, timeout=Duration.seconds(20),
                                  log_retention_days=config.log_retention_days,
                                  # Powertools refuses to flush metrics without a namespace (the request fails).
                                  environment={**settings.to_env(), "POWERTOOLS_METRICS_NAMESPACE": "Tandem"})
        iam.Policy(self, "RatingTableAccess", roles=[function.role], statements=[
            iam.PolicyStatement(sid="RatingBatches", actions=list(RATING_TABLE_ACTIONS),
                                resources=[self.ratings.table_arn]),
            iam.PolicyStatement(sid="RatingBatchIndexes", actions=["dynamodb:Query"],
                                resources=[f"{self.ratings.table_arn}/index/{OPEN_ITEMS}",
                                           f"{self.ratings.table_arn}/index/{BATCHES_BY_STATUS}"]),
        ])
        store.grant_labeling(function.role, function, "LabelingAccess", read=(CONSOLE_RATINGS,),
                             write=(CONSOLE_RATINGS, EXPERT_ANSWERS_PREFIX),
                             why="the rating API writes one record per consolidated item under ratings/console/ "
                                 "and reads a batch's records back for its admins, and writes each accepted "
                                 "expert answer under expert-answers/.")
        return function

    def _rating_api(self, config: TandemConfig) -> apigw.RestApi:
        """The rating API (lambdas/rating_api/handler.py): every method behind the user pool's authorizer; the
        function then requires the `raters` or `rating-admins` group."""
        api = logged_rest_api(
            self, "RatingApi", description="Tandem rating API (raters and rating admins, behind Cognito)",
            stage_name="ratings", rate_limit=RATING_RATE_LIMIT, burst_limit=RATING_BURST_LIMIT,
            log_retention_days=config.log_retention_days, access_logs_id="RatingApiAccessLogs", log_user=True,
            web_origin=self.site_url or None)
        integration = apigw.LambdaIntegration(self.rating_function.invocable, timeout=Duration.seconds(29))
        authorizer = apigw.CognitoUserPoolsAuthorizer(self, "RatingAuthorizer", cognito_user_pools=[self.user_pool])
        batches = api.root.add_resource("batches")
        batch = batches.add_resource("{batch_id}")
        item = batch.add_resource("items").add_resource("{item_id}")
        answers = api.root.add_resource("expert-answers")
        answer = answers.add_resource("{candidate_id}")
        routes = [(batches, "GET"), (batch, "GET"), (batch.add_resource("next"), "POST"),
                  (batch.add_resource("records"), "GET"), (batch.add_resource("close"), "POST"),
                  (item.add_resource("rating"), "POST"), (item.add_resource("skip"), "POST"),
                  (answers, "GET"), (answer.add_resource("accept"), "POST"), (answer.add_resource("discard"), "POST")]
        for resource, method in routes:
            resource.add_method(method, integration, authorizer=authorizer,
                                authorization_type=apigw.AuthorizationType.COGNITO)
        acknowledge(
            api, "AwsSolutions-APIG3",
            "No WAF web ACL by default (it bills per ACL and rule): every request needs a Cognito token of the "
            "raters or rating-admins group, and the stage is throttled. Associate a web ACL with the stage for IP "
            "rules.",
        )
        acknowledge(
            api, "AwsSolutions-APIG2",
            "Requests are validated in the Lambda, which checks the rater's group first and names the field of "
            "every rejected input (an unknown field too) before anything is written.",
        )
        return api

    def _labeling_role(self, store: ConversationStore) -> iam.Role:
        role = iam.Role(self, "LabelingRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                        description="Tandem Ground Truth labeling jobs")
        store.grant_labeling(role, self, "LabelingJobData", read=(MANIFESTS, OUTPUT), write=(OUTPUT,),
                             why="Ground Truth reads the input manifest and writes its output and annotations.")
        iam.Policy(self, "LabelingJobLambdas", roles=[role], statements=[
            iam.PolicyStatement(sid="InvokeOurLambdas", actions=["lambda:InvokeFunction"],
                                resources=[self.pre.function.function_arn, self.post.function.function_arn]),
            # The one template object (Asset.grant_read would allow the whole assets bucket).
            iam.PolicyStatement(sid="ReadTemplate", actions=["s3:GetObject"],
                                resources=[f"arn:{self.partition}:s3:::{self.template.s3_bucket_name}/"
                                           f"{self.template.s3_object_key}"]),
        ])
        iam.Policy(self, "LabelingJobLogs", roles=[role], statements=[
            iam.PolicyStatement(sid="JobLogs", actions=["logs:CreateLogGroup", "logs:CreateLogStream",
                                                        "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                resources=[f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:"
                                           "/aws/sagemaker/LabelingJobs*"]),
            iam.PolicyStatement(sid="JobMetrics", actions=["cloudwatch:PutMetricData"], resources=["*"],
                                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/LabelingJobs"}}),
        ])
        acknowledge(
            self.node.find_child("LabelingJobLogs"), "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData supports no resource-level permissions; it is conditioned on Ground Truth's "
            "own metric namespace.",
        )
        acknowledge(
            self.node.find_child("LabelingJobLogs"),
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
            "/aws/sagemaker/LabelingJobs*]",
            "Ground Truth writes one log stream per labeling job into its own log group; the statement is limited "
            "to that group.",
        )
        return role

    def _workteam(self, config: TandemConfig) -> str:
        if not config.workteam_user_pool_id:
            return config.labeling_workteam_arn
        team = sagemaker.CfnWorkteam(
            self, "Raters", workteam_name="tandem-raters", description="Tandem experts who rate the bot's answers",
            member_definitions=[sagemaker.CfnWorkteam.MemberDefinitionProperty(
                cognito_member_definition=sagemaker.CfnWorkteam.CognitoMemberDefinitionProperty(
                    cognito_user_pool=config.workteam_user_pool_id, cognito_user_group=config.workteam_user_group,
                    cognito_client_id=config.workteam_client_id))])
        return team.attr_workteam_arn

    def _sampler(self, config: TandemConfig, store: ConversationStore, workteam_arn: str) -> PythonFunction:
        # Without a workteam (workteam_arn ""), the sampler writes the manifest and starts no job.
        job = JobSettings(
            workteam_arn=workteam_arn, label_attribute_name=LABEL_ATTRIBUTE, role_arn=self.labeling_role.role_arn,
            template_s3_uri=self.template.s3_object_url, pre_annotation_lambda_arn=self.pre.function.function_arn,
            consolidation_lambda_arn=self.post.function.function_arn,
            workers_per_object=config.labeling_workers_per_object,
            task_time_limit_seconds=config.labeling_task_time_limit_seconds,
            task_availability_seconds=config.labeling_task_availability_seconds)
        settings = SamplerSettings(
            transcripts_bucket=store.reference(self, "TranscriptsBucketName"),
            ratings_bucket=store.reference(self, "LabelingBucketName"), ratings_prefix=RATINGS,
            labeling_bucket=store.reference(self, "LabelingBucketName"), window_days=config.labeling_window_days,
            budget=config.labeling_budget, strategy=config.labeling_strategy, seed=config.labeling_seed,
            redact_pii=config.labeling_redact_pii, language_code=config.language_code,
            job_name_prefix=JOB_NAME_PREFIX, job=job, ratings_table=self.ratings.table_name,
            ratings_per_item=config.labeling_workers_per_object,
            rating_hold_seconds=config.labeling_task_time_limit_seconds)
        sampler = PythonFunction(
            self, "Sampler", name="feedback_sampler",
            description="Tandem feedback sampler: picks answers to rate and starts the labeling job",
            memory_size=512, timeout=Duration.minutes(5), log_retention_days=config.log_retention_days,
            environment=settings.to_env(),
        )
        store.grant_transcript_read(sampler, policy_id="TranscriptRead")
        store.grant_labeling(sampler.role, sampler, "LabelingAccess", read=(RATINGS,), write=(MANIFESTS, THUMBS_PREFIX),
                             why="the sampler skips rated answers and writes one input manifest per job, and "
                                 "one file of the customers' thumbs per run.")
        statements = [
            # Without a workteam the sample becomes a rating batch (lambdas/common/rating_batches.py create).
            iam.PolicyStatement(sid="CreateRatingBatches", actions=list(SAMPLER_TABLE_ACTIONS),
                                resources=[self.ratings.table_arn]),
            iam.PolicyStatement(sid="StartLabelingJobs", actions=["sagemaker:CreateLabelingJob"],
                                resources=[f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:labeling-job/"
                                           f"{JOB_NAME_PREFIX}-*"]),
            iam.PolicyStatement(sid="PassLabelingRole", actions=["iam:PassRole"], resources=[self.labeling_role.role_arn],
                                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}),
        ]
        if config.labeling_redact_pii:
            statements.append(iam.PolicyStatement(sid="DetectPii", actions=["comprehend:DetectPiiEntities"],
                                                  resources=["*"]))
        policy = iam.Policy(self, "SamplerActions", roles=[sampler.role], statements=statements)
        acknowledge(
            policy, "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:"
                    f"labeling-job/{JOB_NAME_PREFIX}-*]",
            "Each labeling job is named when the sampler starts it (prefix + time), so its ARN is not known at "
            "deploy; the sampler may only create labeling jobs and pass the labeling role to SageMaker.",
        )
        if config.labeling_redact_pii:
            acknowledge(
                policy, "AwsSolutions-IAM5[Resource::*]",
                "comprehend:DetectPiiEntities supports no resource-level permissions; it only analyses the text sent, "
                "so that personal data is masked before an answer reaches a rater.",
            )
        rule = events.Rule(self, "Schedule", schedule=events.Schedule.expression(config.labeling_schedule),
                           enabled=config.labeling_schedule_enabled,
                           description="Samples answers for expert rating (enable with labeling_schedule_enabled)")
        rule.add_target(targets.LambdaFunction(sampler.function, retry_attempts=2))
        return sampler
