"""FinetuneStack: turns the expert ratings into a fine-tuned model, on demand.

The workflow (statemachines/finetune_pipeline.asl.json, Standard, started by hand or by a script with an
execution name of letters, digits and single hyphens) runs:
- lambdas/finetune_dataset: reads the rating records under ratings/, the customers' thumbs under thumbs/ and
  the accepted experts' answers under expert-answers/ in the labeling bucket (DataStack)
  and writes the train/eval splits under datasets/<execution name>/ in this stack's artifacts bucket;
- on the SageMaker path (finetune_path "sagemaker", the default): a SageMaker training job running training/
  (shipped as a tar.gz asset, stacks/constructs/training_code.py) in the Hugging Face PyTorch image, writing the
  adapter, the merged model and the base's and tuned model's answers under models/<job>/output/model/;
- on the Bedrock path (finetune_path "bedrock"): a Bedrock model customization job fine-tunes one of Bedrock's
  models (stacks/bedrock_customization.py) on the dataset's rows in that model's format, writing its metrics
  under models/<job>/; the custom model is deployed for on-demand inference and lambdas/finetune_answers has
  it and the base model answer the held-out questions (reports/<execution name>/gate_answers.jsonl);
- lambdas/finetune_gate, the evaluation gate: a Bedrock judge compares the tuned model's answers with the
  base's (gate_answers.jsonl beside metrics.json), metrics.json's training checks and import check are read,
  and a report is written under reports/<execution name>/ (docs/evaluation-gate.md);
- only when the gate passed, and with finetune_import_model, a Bedrock Custom Model Import of the merged model
  (no CloudFormation resource exists for it, so the workflow starts and watches the job), tagged with the
  chatbot's model_id at the time (the way back); on the Bedrock path a passed model keeps its deployment (the
  model id to switch to) and a refused one loses it;
- a notice to the fine-tuning topic, on success (with the gate's report), on a refusal (with its reasons and
  report) and on failure (with the error and its cause).
Datasets and models share one bucket the stack owns, so the training, customization and import roles reach a
single bucket and no other stack's; the rating records stay in the labeling bucket, read-only to the dataset Lambda.
The definition is loaded inline (DefinitionBody.from_string), so CDK adds no IAM grants: they are written
here, each scoped to what the definition calls.
"""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import CfnOutput, Duration, Stack, Token
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.common.expert_answers import EXPERT_ANSWERS_PREFIX
from lambdas.common.rating_files import DEFAULT_PREFIX as DEFAULT_RATINGS_PREFIX
from lambdas.common.thumbs import THUMBS_PREFIX
from lambdas.finetune_answers.settings import AnswersSettings
from lambdas.finetune_dataset.settings import DatasetSettings
from lambdas.finetune_gate.settings import GateSettings
from stacks.bedrock_customization import MODELS as BEDROCK_MODELS
from stacks.bedrock_customization import CustomizableModel, region_refusal
from stacks.config import ConfigError, TandemConfig, ecr_image_parts
from stacks.constructs.bedrock_access import BedrockAccess
from stacks.constructs.conversation_store import ConversationStore
from stacks.constructs.nag import acknowledge, arn_ref
from stacks.constructs.python_function import PythonFunction
from stacks.constructs.secure_bucket import access_log_bucket, secure_bucket
from stacks.constructs.training_code import PROGRAM, TrainingCode
from stacks.constructs.workflow import standard_workflow

DEFINITION = Path(__file__).resolve().parents[1] / "statemachines" / "finetune_pipeline.asl.json"
RATINGS, DATASETS, MODELS, REPORTS = DEFAULT_RATINGS_PREFIX, "datasets/", "models/", "reports/"
JOB_NAME_PREFIX = "tandem-ft"  # training jobs are named <prefix>-<execution name>; IAM is scoped to it
# Step Functions' managed rule for .sync SageMaker training jobs (it creates the rule on first use).
TRAINING_EVENTS_RULE = "StepFunctionsGetEventsForSageMakerTrainingJobsRule"
# Uploading the model and starting the instance happen outside MaxRuntimeInSeconds: an hour of margin.
TRAINING_OVERHEAD_SECONDS = 3600
# Bedrock imports take minutes to an hour or so: check every minute, give up after six hours.
IMPORT_POLL_SECONDS = 60
IMPORT_MAX_POLLS = 360
# Bedrock customization jobs take hours on a few thousand rows: check every five minutes, give up after two
# days. An on-demand deployment becomes active in minutes: check every minute, give up after two hours.
CUSTOMIZATION_POLL_SECONDS = 300
CUSTOMIZATION_MAX_POLLS = 576
DEPLOYMENT_POLL_SECONDS = 60
DEPLOYMENT_MAX_POLLS = 120
GATE_QUESTIONS = 100  # the held-out questions answered on the Bedrock path (the training job's gate_questions)
UNUSED = "unused"  # the value of a placeholder that only a branch this configuration never takes reads


def escape_for_json_string(text: str) -> str:
    """`text` as it must appear between the quotes of a JSON string (the definition is JSON text)."""
    return json.dumps(text)[1:-1]


class FinetuneStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: TandemConfig, store: ConversationStore,
                 **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # Datasets hold customer text taken from transcripts, and models are trained on it: both expire
        # with the transcripts.
        self.access_logs = access_log_bucket(self, "AccessLogs", retention_days=config.transcript_retention_days)
        self.artifacts = secure_bucket(self, "Artifacts", access_logs=self.access_logs, log_prefix="artifacts/",
                                       current_days=config.transcript_retention_days)
        # The AWS-managed SNS key lets this account's callers (the workflow) publish with sns:Publish alone.
        self.topic = sns.Topic(self, "Notices", display_name="Tandem fine-tuning", enforce_ssl=True,
                               master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"))
        if config.finetune_notify_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.finetune_notify_email))

        # Each path's resources exist only when it is the configured one.
        self.bedrock_model = self._bedrock_model(config) if config.finetune_path == "bedrock" else None
        self.training_code = TrainingCode(self, "TrainingCode") if self.bedrock_model is None else None
        self.dataset = self._dataset_function(config, store)
        self.gate = self._gate_function(config)
        self.training_role = self._training_role(config, self.training_code) if self.training_code else None
        self.import_role = self._import_role() if config.finetune_import_model else None
        self.customization_role = self._customization_role() if self.bedrock_model else None
        self.answers = self._answers_function(config, self.bedrock_model) if self.bedrock_model else None
        self.state_machine = self._state_machine(config)

        CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        CfnOutput(self, "ArtifactsBucketName", value=self.artifacts.bucket_name)
        CfnOutput(self, "NoticesTopicArn", value=self.topic.topic_arn)
        if self.training_code:
            CfnOutput(self, "TrainingCodeS3Uri", value=self.training_code.s3_uri)

    # Helpers ------------------------------------------------------------------------------------------

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"

    def _artifacts(self, prefix: str) -> str:
        return f"{self.artifacts.bucket_arn}/{prefix}*"

    def _artifacts_finding(self, prefix: str) -> str:
        return f"AwsSolutions-IAM5[Resource::{arn_ref(self.artifacts)}/{prefix}*]"

    def _bedrock_jobs(self, jobs: str) -> iam.IPrincipal:
        """Bedrock, as the `jobs` of this account and Region only (the confused-deputy guard)."""
        return iam.PrincipalWithConditions(iam.ServicePrincipal("bedrock.amazonaws.com"), {
            "StringEquals": {"aws:SourceAccount": self.account},
            "ArnLike": {"aws:SourceArn": self._arn("bedrock", jobs)},
        })

    def _read_prefix(self, sid: str, bucket_arn: str, prefix: str) -> list[iam.PolicyStatement]:
        """GetObject under a prefix, and listing only that prefix (SageMaker's File mode lists a channel)."""
        return [
            iam.PolicyStatement(sid=f"Read{sid}", actions=["s3:GetObject"], resources=[f"{bucket_arn}/{prefix}*"]),
            iam.PolicyStatement(sid=f"List{sid}", actions=["s3:ListBucket"], resources=[bucket_arn],
                                conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}}),
        ]

    # The dataset Lambda -------------------------------------------------------------------------------

    def _dataset_function(self, config: TandemConfig, store: ConversationStore) -> PythonFunction:
        function = PythonFunction(
            self, "Dataset", name="finetune_dataset",
            description="Tandem fine-tuning dataset: rating records -> train/eval splits",
            memory_size=1024, timeout=Duration.minutes(10), log_retention_days=config.log_retention_days,
            environment=DatasetSettings(
                ratings_bucket=store.reference(self, "LabelingBucketName"), ratings_prefix=RATINGS,
                dataset_bucket=self.artifacts.bucket_name, dataset_prefix=DATASETS,
                good_min_rating=config.finetune_good_min_rating, bad_max_rating=config.finetune_bad_max_rating,
                eval_fraction=config.finetune_eval_fraction, split_seed=config.finetune_split_seed,
                weight_by_agreement=config.finetune_weight_by_agreement, min_train_rows=config.finetune_min_train_rows,
                min_eval_rows=config.finetune_min_eval_rows,
                thumbs_weight=config.finetune_thumbs_weight,
                # Every row carries the chatbot's own system prompt: the tuned model is served with it.
                system_prompt=config.system_prompt).to_env(),
        )
        store.grant_labeling(function.role, function, "RatingsRead", read=(RATINGS, THUMBS_PREFIX, EXPERT_ANSWERS_PREFIX),
                             why="the dataset Lambda reads every rating record, every customer's thumb the "
                                 "sampler exported and every expert answer a rating admin accepted to build the "
                                 "train and evaluation splits; it writes nothing there.")
        write = iam.Policy(function, "DatasetWrite", roles=[function.role], statements=[
            iam.PolicyStatement(sid="WriteDatasets", actions=["s3:PutObject"], resources=[self._artifacts(DATASETS)]),
        ])
        acknowledge(
            write, self._artifacts_finding(DATASETS),
            "Write-only access to the datasets/ prefix of the artifacts bucket: one folder per run, named after "
            "the workflow execution at run time, so no finer ARN exists at deploy.",
        )
        return function

    # The evaluation gate -----------------------------------------------------------------------------

    def _gate_function(self, config: TandemConfig) -> PythonFunction:
        function = PythonFunction(
            self, "Gate", name="finetune_gate",
            description="Tandem evaluation gate: a Bedrock judge compares the tuned and the base model's answers",
            # Two judge calls per question, JUDGE_CONCURRENCY at a time: MAX_QUESTIONS (300) fit in Lambda's
            # maximum time-out (docs/evaluation-gate.md, "Cost and time").
            memory_size=512, timeout=Duration.minutes(15), log_retention_days=config.log_retention_days,
            environment=GateSettings(
                report_bucket=self.artifacts.bucket_name, report_prefix=REPORTS,
                judge_model_id=config.finetune_judge_model_id,
                min_lower_bound=config.finetune_gate_min_lower_bound,
                min_questions=config.finetune_gate_min_questions,
                max_failure_share=config.finetune_gate_max_judge_failures).to_env(),
        )
        BedrockAccess(function, "JudgeModel", role=function.role, model_ids=[config.finetune_judge_model_id])
        files = iam.Policy(function, "GateFiles", roles=[function.role], statements=[
            # The training job's answers, metrics.json and import check, under models/<job>/output/model/.
            iam.PolicyStatement(sid="ReadTrainingOutput", actions=["s3:GetObject"],
                                resources=[self._artifacts(MODELS)]),
            iam.PolicyStatement(sid="WriteReports", actions=["s3:PutObject"], resources=[self._artifacts(REPORTS)]),
        ])
        acknowledge(
            files, self._artifacts_finding(MODELS),
            "Read-only access to the models/ prefix of the artifacts bucket: the gate reads the answers file and "
            "metrics.json of the training job named at run time (models/<job>/output/model/); no listing, no "
            "write there.",
        )
        acknowledge(
            files, self._artifacts_finding(REPORTS),
            "Write-only access to the reports/ prefix of the artifacts bucket: one folder per evaluation, named "
            "after the workflow execution at run time, so no finer ARN exists at deploy.",
        )
        return function

    # The Bedrock path: its base model and the answers function ------------------------------------------

    def _bedrock_model(self, config: TandemConfig) -> CustomizableModel:
        """The configured base model (config.py refused any the path cannot run), in a Region that tunes it."""
        model = BEDROCK_MODELS[config.finetune_bedrock_base_model]
        why = None if Token.is_unresolved(self.region) else region_refusal(model.model_id, self.region)
        if why:
            raise ConfigError("finetune_bedrock_base_model", model.model_id,
                              f"a model Bedrock fine-tunes in this stack's Region: {why}")
        return model

    def _answers_function(self, config: TandemConfig, model: CustomizableModel) -> PythonFunction:
        function = PythonFunction(
            self, "Answers", name="finetune_answers",
            description="Tandem fine-tuning: the base and the custom model answer the held-out questions",
            # Two answers per question, CONCURRENCY at a time, each up to READ_TIMEOUT_SECONDS: GATE_QUESTIONS
            # fit well inside Lambda's maximum time-out.
            memory_size=512, timeout=Duration.minutes(15), log_retention_days=config.log_retention_days,
            environment=AnswersSettings(
                answers_bucket=self.artifacts.bucket_name, answers_prefix=REPORTS, base_model_id=model.invoke_id,
                max_questions=GATE_QUESTIONS, max_answer_tokens=config.max_tokens,
                max_failure_share=config.finetune_gate_max_judge_failures).to_env(),
        )
        BedrockAccess(function, "BaseModel", role=function.role, model_ids=[model.invoke_id])
        deployments = self._arn("bedrock", "custom-model-deployment/*")
        access = iam.Policy(function, "AnswersAccess", roles=[function.role], statements=[
            iam.PolicyStatement(sid="InvokeCustomModelDeployments", actions=["bedrock:InvokeModel"],
                                resources=[deployments]),
            iam.PolicyStatement(sid="ReadEvalSplit", actions=["s3:GetObject"], resources=[self._artifacts(DATASETS)]),
            iam.PolicyStatement(sid="WriteAnswers", actions=["s3:PutObject"], resources=[self._artifacts(REPORTS)]),
        ])
        acknowledge(
            access, "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:<AWS::Region>:<AWS::AccountId>:"
                    "custom-model-deployment/*]",
            "Bedrock gives each custom model deployment a random id when the pipeline creates it, so no finer ARN "
            "exists at deploy; invoke only (Converse), in this account and Region.",
        )
        acknowledge(
            access, self._artifacts_finding(DATASETS),
            "Read-only access to the datasets/ prefix of the artifacts bucket: the eval split of the run named at "
            "run time (datasets/<execution name>/eval/reward.jsonl); no listing, no write there.",
        )
        acknowledge(
            access, self._artifacts_finding(REPORTS),
            "Write-only access to the reports/ prefix of the artifacts bucket: the answers file of the evaluation "
            "named at run time (reports/<execution name>/gate_answers.jsonl), beside the gate's report.",
        )
        return function

    def _customization_role(self) -> iam.Role:
        role = iam.Role(self, "CustomizationRole", assumed_by=self._bedrock_jobs("model-customization-job/*"),
                        description="Tandem fine-tuning: Bedrock model customization reads the dataset, writes metrics")
        policy = iam.Policy(self, "CustomizationData", roles=[role], statements=[
            *self._read_prefix("Datasets", self.artifacts.bucket_arn, DATASETS),
            # The job writes its training and validation metrics under OutputDataConfig (models/<job>/).
            iam.PolicyStatement(sid="WriteOutput", actions=["s3:PutObject"], resources=[self._artifacts(MODELS)]),
            iam.PolicyStatement(sid="ListOutput", actions=["s3:ListBucket"], resources=[self.artifacts.bucket_arn],
                                conditions={"StringLike": {"s3:prefix": [f"{MODELS}*"]}}),
        ])
        acknowledge(
            policy, self._artifacts_finding(DATASETS),
            "Bedrock reads the run's training and validation rows under datasets/<execution name>/, named at run "
            "time; read-only, listing conditioned on the datasets/ prefix.",
        )
        acknowledge(
            policy, self._artifacts_finding(MODELS),
            "Bedrock writes the job's metrics under models/<job name>/, a name given at run time; write-only, "
            "listing conditioned on the models/ prefix, nothing else in the bucket.",
        )
        return role

    # The roles SageMaker and Bedrock work with --------------------------------------------------------

    def _training_role(self, config: TandemConfig, code: TrainingCode) -> iam.Role:
        role = iam.Role(self, "TrainingRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                        description="Tandem fine-tuning: the SageMaker training job")
        data = [
            *self._read_prefix("Datasets", self.artifacts.bucket_arn, DATASETS),
            iam.PolicyStatement(sid="WriteModels", actions=["s3:PutObject"], resources=[self._artifacts(MODELS)]),
            # The one archive object (Asset.grant_read would allow the whole assets bucket).
            iam.PolicyStatement(sid="ReadTrainingCode", actions=["s3:GetObject"],
                                resources=[code.object_arn(self.partition)]),
        ]
        model_uri = config.finetune_model_s3_uri
        if model_uri:
            bucket, _, prefix = model_uri.removeprefix("s3://").partition("/")
            data += self._read_prefix("BaseModel", f"arn:{self.partition}:s3:::{bucket}", prefix)
        data_policy = iam.Policy(self, "TrainingData", roles=[role], statements=data)
        acknowledge(
            data_policy, self._artifacts_finding(DATASETS),
            "The job reads the datasets/ prefix of the artifacts bucket, where each run's splits sit in a folder "
            "named at run time; listing is conditioned on that prefix.",
        )
        acknowledge(
            data_policy, self._artifacts_finding(MODELS),
            "The job writes its model under models/<job name>/, a name given at run time; write-only, and only "
            "under that prefix of the artifacts bucket.",
        )
        if model_uri:
            bucket, _, prefix = model_uri.removeprefix("s3://").partition("/")
            acknowledge(
                data_policy, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{bucket}/{prefix}*]",
                "Read-only access to the configured base model's S3 prefix (finetune_base_model), whose files "
                "are the model's own; listing is conditioned on that prefix.",
            )

        account, image_region, repository = ecr_image_parts(config.finetune_training_image)
        region = self.region if image_region == "{region}" else image_region
        runtime = iam.Policy(self, "TrainingRuntime", roles=[role], statements=[
            iam.PolicyStatement(sid="PullTrainingImage",
                                actions=["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer",
                                         "ecr:BatchGetImage"],
                                resources=[f"arn:{self.partition}:ecr:{region}:{account}:repository/{repository}"]),
            iam.PolicyStatement(sid="EcrToken", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
            iam.PolicyStatement(sid="JobLogs", actions=["logs:CreateLogGroup", "logs:CreateLogStream",
                                                        "logs:PutLogEvents", "logs:DescribeLogStreams"],
                                resources=[self._arn("logs", "log-group:/aws/sagemaker/TrainingJobs*")]),
            iam.PolicyStatement(sid="JobMetrics", actions=["cloudwatch:PutMetricData"], resources=["*"],
                                conditions={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}}),
        ])
        acknowledge(
            runtime, "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken and cloudwatch:PutMetricData support no resource-level permissions; the "
            "token only lets the job pull the one training-image repository named beside it, and metrics are "
            "conditioned on SageMaker's training-job namespace.",
        )
        acknowledge(
            runtime, "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
                     "log-group:/aws/sagemaker/TrainingJobs*]",
            "SageMaker writes one log stream per training job into its own /aws/sagemaker/TrainingJobs log group; "
            "the statement is limited to that group.",
        )
        return role

    def _import_role(self) -> iam.Role:
        role = iam.Role(self, "ImportRole", assumed_by=self._bedrock_jobs("model-import-job/*"),
                        description="Tandem fine-tuning: Bedrock Custom Model Import reads the merged model")
        policy = iam.Policy(self, "ImportRead", roles=[role],
                            statements=self._read_prefix("Models", self.artifacts.bucket_arn, MODELS))
        acknowledge(
            policy, self._artifacts_finding(MODELS),
            "Bedrock reads the merged model under models/<job name>/output/model/merged/, named at run time; "
            "read-only, listing conditioned on the models/ prefix, nothing else in the bucket.",
        )
        return role

    # The workflow -------------------------------------------------------------------------------------

    def _hyperparameters(self, config: TandemConfig) -> dict[str, str]:
        """What SageMaker passes to train.py (all strings); sagemaker_* ones configure the training toolkit."""
        if self.training_code is None:
            return {}
        values = {
            "sagemaker_program": PROGRAM,
            "sagemaker_submit_directory": self.training_code.s3_uri,
            "sagemaker_region": self.region,
            "algorithm": config.finetune_algorithm,
            # The held-out evaluation must call an answer well or badly rated as the dataset Lambda did.
            "good_min_rating": str(config.finetune_good_min_rating),
            "bad_max_rating": str(config.finetune_bad_max_rating),
        }
        if not config.finetune_model_s3_uri:  # else the weights come from the model channel (SM_CHANNEL_MODEL)
            values["model_name_or_path"] = config.finetune_base_model
        return {**values, **dict(config.finetune_hyperparameters)}

    def _definition_substitutions(self, config: TandemConfig) -> dict[str, str]:
        return {
            "JobNamePrefix": JOB_NAME_PREFIX,
            "DatasetFunctionArn": self.dataset.function.function_arn,
            # One JSON object in a JSON string; the workflow parses it with States.StringToJson.
            "HyperParameters": escape_for_json_string(json.dumps(self._hyperparameters(config),
                                                                 separators=(",", ":"))),
            "UseModelChannel": "true" if config.finetune_model_s3_uri else "false",
            "ModelChannelUri": config.finetune_model_s3_uri or UNUSED,
            "TrainingImage": config.finetune_training_image.replace("{region}", self.region),
            "InstanceType": config.finetune_instance_type,
            "VolumeSizeGb": str(config.finetune_volume_gb),
            "MaxRuntimeSeconds": str(config.finetune_max_runtime_hours * 3600),
            "TrainTimeoutSeconds": str(config.finetune_max_runtime_hours * 3600 + TRAINING_OVERHEAD_SECONDS),
            "ModelsS3Uri": f"s3://{self.artifacts.bucket_name}/{MODELS}",
            "TrainingRoleArn": self.training_role.role_arn if self.training_role else UNUSED,
            "ImportModel": "true" if self.import_role else "false",
            "ImportRoleArn": self.import_role.role_arn if self.import_role else UNUSED,
            "ImportPollSeconds": str(IMPORT_POLL_SECONDS),
            "ImportMaxPolls": str(IMPORT_MAX_POLLS),
            "TopicArn": self.topic.topic_arn,
            "GateFunctionArn": self.gate.function.function_arn,
            # The chatbot's model when the pipeline was deployed: kept with each import (a tag on the imported
            # model, the notice, the execution output) as the model to switch back to.
            "CurrentModelId": escape_for_json_string(config.model_id),
            "TrainingPath": config.finetune_path,
            "BedrockBaseModel": self.bedrock_model.model_id if self.bedrock_model else UNUSED,
            "BedrockDataFolder": self.bedrock_model.data_folder if self.bedrock_model else UNUSED,
            "BedrockHyperParameters": escape_for_json_string(json.dumps(dict(config.finetune_bedrock_hyperparameters),
                                                                        separators=(",", ":"))),
            "CustomizationRoleArn": self.customization_role.role_arn if self.customization_role else UNUSED,
            "CustomizationPollSeconds": str(CUSTOMIZATION_POLL_SECONDS),
            "CustomizationMaxPolls": str(CUSTOMIZATION_MAX_POLLS),
            "DeploymentPollSeconds": str(DEPLOYMENT_POLL_SECONDS),
            "DeploymentMaxPolls": str(DEPLOYMENT_MAX_POLLS),
            "AnswersFunctionArn": self.answers.function.function_arn if self.answers else UNUSED,
        }

    def _state_machine(self, config: TandemConfig) -> sfn.StateMachine:
        role = iam.Role(self, "PipelineRole", assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
                        description="Tandem fine-tuning state machine")
        training_jobs = self._arn("sagemaker", f"training-job/{JOB_NAME_PREFIX}-*")
        statements = [
            iam.PolicyStatement(sid="BuildDataset", actions=["lambda:InvokeFunction"],
                                resources=[self.dataset.function.function_arn]),
            iam.PolicyStatement(sid="EvaluationGate", actions=["lambda:InvokeFunction"],
                                resources=[self.gate.function.function_arn]),
            iam.PolicyStatement(sid="Notices", actions=["sns:Publish"], resources=[self.topic.topic_arn]),
        ]
        if self.training_role:
            statements += [
                # What the .sync integration calls: create (with tags), then describe until done; stop on abort.
                iam.PolicyStatement(sid="TrainingJobs",
                                    actions=["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob",
                                             "sagemaker:StopTrainingJob", "sagemaker:AddTags", "sagemaker:ListTags"],
                                    resources=[training_jobs]),
                iam.PolicyStatement(sid="TrainingJobEvents",
                                    actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                                    resources=[self._arn("events", f"rule/{TRAINING_EVENTS_RULE}")]),
                iam.PolicyStatement(sid="PassTrainingRole", actions=["iam:PassRole"],
                                    resources=[self.training_role.role_arn],
                                    conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}),
            ]
        if self.customization_role and self.answers and self.bedrock_model:
            base_model = f"arn:{self.partition}:bedrock:{self.region}::foundation-model/{self.bedrock_model.model_id}"
            jobs, models = self._arn("bedrock", "model-customization-job/*"), self._arn("bedrock", "custom-model/*")
            deployments = self._arn("bedrock", "custom-model-deployment/*")
            statements += [
                # TagResource: the custom model and its deployment are tagged on creation with the model to
                # switch back to.
                iam.PolicyStatement(sid="StartCustomization",
                                    actions=["bedrock:CreateModelCustomizationJob", "bedrock:TagResource"],
                                    resources=[base_model, jobs, models]),
                iam.PolicyStatement(sid="WatchCustomization", actions=["bedrock:GetModelCustomizationJob"],
                                    resources=[jobs]),
                iam.PolicyStatement(sid="DeployCustomModel",
                                    actions=["bedrock:CreateCustomModelDeployment", "bedrock:TagResource"],
                                    resources=[models, deployments]),
                iam.PolicyStatement(sid="WatchAndWithdrawDeployment",
                                    actions=["bedrock:GetCustomModelDeployment", "bedrock:DeleteCustomModelDeployment"],
                                    resources=[deployments]),
                iam.PolicyStatement(sid="AnswerHeldOut", actions=["lambda:InvokeFunction"],
                                    resources=[self.answers.function.function_arn]),
                iam.PolicyStatement(sid="PassCustomizationRole", actions=["iam:PassRole"],
                                    resources=[self.customization_role.role_arn],
                                    conditions={"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}),
            ]
        if self.import_role:
            statements += [
                # TagResource: the imported model is tagged on creation with the model to switch back to.
                iam.PolicyStatement(sid="StartModelImport",
                                    actions=["bedrock:CreateModelImportJob", "bedrock:TagResource"],
                                    resources=[self._arn("bedrock", "model-import-job/*"),
                                               self._arn("bedrock", "imported-model/*")]),
                iam.PolicyStatement(sid="WatchModelImport", actions=["bedrock:GetModelImportJob"],
                                    resources=[self._arn("bedrock", "model-import-job/*")]),
                iam.PolicyStatement(sid="PassImportRole", actions=["iam:PassRole"],
                                    resources=[self.import_role.role_arn],
                                    conditions={"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}),
            ]
        integrations = iam.Policy(self, "PipelineIntegrations", roles=[role], statements=statements)
        if self.training_role:
            acknowledge(
                integrations, "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:"
                              f"<AWS::AccountId>:training-job/{JOB_NAME_PREFIX}-*]",
                f"Each training job is named {JOB_NAME_PREFIX}-<execution name> when the workflow runs, so its ARN "
                "is not known at deploy; the workflow may only create, watch, tag and stop jobs with that prefix.",
            )
        if self.customization_role:
            for resource in ("model-customization-job/*", "custom-model/*", "custom-model-deployment/*"):
                acknowledge(
                    integrations, "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:<AWS::Region>:"
                                  f"<AWS::AccountId>:{resource}]",
                    "Bedrock gives customization jobs, custom models and their deployments ids it assigns when the "
                    "workflow creates them, so no finer ARN exists at deploy; the workflow may only create, read "
                    "and delete these in this account and Region, passing only the customization role.",
                )
        if self.import_role:
            for resource in ("model-import-job/*", "imported-model/*"):
                acknowledge(
                    integrations, "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:<AWS::Region>:"
                                  f"<AWS::AccountId>:{resource}]",
                    "Bedrock names import jobs and imported models with random ids it assigns when the job starts; "
                    "the workflow may only start and read import jobs in this account and region, passing only "
                    "the import role.",
                )

        return standard_workflow(self, "Pipeline", definition=DEFINITION, role=role,
                                 substitutions=self._definition_substitutions(config), logs_id="PipelineLogs",
                                 log_retention_days=config.log_retention_days)
