"""What the smoke test needs to know about the deployment, from CloudFormation: the stacks' outputs.

TandemChatbot: ChatUrl, UserPoolId, UserPoolClientId (and ModelId, for diagnosing a model error);
TandemEscalation: ExpertsTopicArn, StateMachineArn; TandemData: the exported names of the sessions table
and the transcripts bucket (stacks/constructs/conversation_store.py, export `<stack>-<name>`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tools.smoke.report import SmokeFailure

CHATBOT_STACK, ESCALATION_STACK, DATA_STACK = "TandemChatbot", "TandemEscalation", "TandemData"
STACKS = (CHATBOT_STACK, ESCALATION_STACK, DATA_STACK)
# Outputs read by key, and TandemData's exports read by export name (`<stack>-<name>`).
REQUIRED_OUTPUTS = {CHATBOT_STACK: ("ChatUrl", "UserPoolId", "UserPoolClientId"),
                    ESCALATION_STACK: ("ExpertsTopicArn", "StateMachineArn")}
OPTIONAL_OUTPUTS = {CHATBOT_STACK: ("ModelId",)}
DATA_EXPORTS = ("SessionsTableName", "TranscriptsBucketName")
# A stack in any other state has not finished deploying, or failed to.
DEPLOYED_STATUSES = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE",
                     "IMPORT_ROLLBACK_COMPLETE")


class StackNotDeployed(SmokeFailure):
    part = "outputs"


class OutputMissing(SmokeFailure):
    part = "outputs"


@dataclass(frozen=True)
class Deployment:
    region: str
    chat_url: str
    user_pool_id: str
    user_pool_client_id: str
    model_id: str | None  # None when TandemChatbot was deployed before it had a ModelId output
    experts_topic_arn: str
    state_machine_arn: str
    sessions_table: str
    transcripts_bucket: str


class StackOutputs:
    def __init__(self, cloudformation: Any, *, region: str):
        self.cloudformation = cloudformation
        self.region = region

    def read(self) -> Deployment:
        found: dict[str, dict[str, str]] = {}
        problems: list[str] = []
        for stack in STACKS:
            outputs, problem = self._outputs(stack)
            if problem:
                problems.append(problem)
            else:
                found[stack] = outputs
        if problems:
            raise StackNotDeployed("; ".join(problems))
        chatbot, escalation, data = found[CHATBOT_STACK], found[ESCALATION_STACK], found[DATA_STACK]
        missing = [f"{stack} has no output {key}" for stack, keys in REQUIRED_OUTPUTS.items()
                   for key in keys if not found[stack].get(key)]
        missing += [f"{DATA_STACK} exports no {DATA_STACK}-{name}" for name in DATA_EXPORTS
                    if not data.get(f"{DATA_STACK}-{name}")]
        if missing:
            raise OutputMissing(f"{'; '.join(missing)}: deploy the stacks again (cdk deploy --all)")
        return Deployment(
            region=self.region, chat_url=chatbot["ChatUrl"], user_pool_id=chatbot["UserPoolId"],
            user_pool_client_id=chatbot["UserPoolClientId"], model_id=chatbot.get("ModelId") or None,
            experts_topic_arn=escalation["ExpertsTopicArn"], state_machine_arn=escalation["StateMachineArn"],
            sessions_table=data[f"{DATA_STACK}-SessionsTableName"],
            transcripts_bucket=data[f"{DATA_STACK}-TranscriptsBucketName"])

    def _outputs(self, stack: str) -> tuple[dict[str, str], str | None]:
        """The stack's outputs by key and by export name, or what is wrong with the stack."""
        try:
            description = self.cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ValidationError" and "does not exist" in str(error):
                return {}, f"stack {stack} not deployed in {self.region}"
            raise
        status = description["StackStatus"]
        if status not in DEPLOYED_STATUSES:
            return {}, f"stack {stack} is {status} in {self.region}"
        outputs: dict[str, str] = {}
        for output in description.get("Outputs", []):
            outputs[output["OutputKey"]] = output["OutputValue"]
            if output.get("ExportName"):
                outputs[output["ExportName"]] = output["OutputValue"]
        return outputs, None
