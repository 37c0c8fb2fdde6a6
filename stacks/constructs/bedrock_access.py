"""bedrock:InvokeModel for exactly the models a function is configured to call, shaped by how each id
reaches its model (AWS, "Increase throughput with cross-Region inference"):

- a foundation model id: that model in the stack's Region;
- an ARN (an imported model, a provisioned or application profile): that ARN;
- a geographic inference profile ("eu.<model>"): the profile, and the model in any Region only when the
  request comes through that profile (condition bedrock:InferenceProfileArn). The profile, not the policy,
  decides its destination Regions, and AWS adds Regions to a geography over time;
- a global inference profile ("global.<model>"): AWS's three statements: the profile in the stack's
  Region, the model in that Region through the profile, and the Region-less global model ARN through the
  profile (aws:RequestedRegion "unspecified").

Converse is authorized as bedrock:InvokeModel; the chatbot does not stream, so nothing else is granted.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from lambdas.chatbot.model_ids import GLOBAL_PREFIX, base_model_id, profile_prefix
from stacks.constructs.nag import acknowledge

INVOKE = ["bedrock:InvokeModel"]


class BedrockAccess(Construct):
    """An IAM policy on `role` that lets it invoke `model_ids` and nothing else."""

    def __init__(self, scope: Construct, construct_id: str, *, role: iam.IRole, model_ids: Iterable[str]) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        ids = sorted(set(model_ids))
        self._stack = stack
        direct = [self._direct_arn(m) for m in ids if profile_prefix(m) is None]
        geographic = [m for m in ids if profile_prefix(m) not in (None, GLOBAL_PREFIX)]
        global_ = [m for m in ids if profile_prefix(m) == GLOBAL_PREFIX]

        statements = []
        if direct or geographic:
            statements.append(iam.PolicyStatement(
                sid="InvokeConfiguredModels", actions=INVOKE,
                resources=direct + [self._profile_arn(m) for m in geographic]))
        if geographic:
            statements.append(iam.PolicyStatement(
                sid="InvokeModelsThroughGeographicProfiles", actions=INVOKE,
                resources=[self._model_arn(m, region="*") for m in geographic],
                conditions={"StringEquals": {"bedrock:InferenceProfileArn": [self._profile_arn(m) for m in geographic]}}))
        if global_:
            profiles = [self._profile_arn(m) for m in global_]
            statements += [
                iam.PolicyStatement(
                    sid="InvokeGlobalProfiles", actions=INVOKE, resources=profiles,
                    conditions={"StringEquals": {"aws:RequestedRegion": stack.region}}),
                iam.PolicyStatement(
                    sid="InvokeModelsThroughGlobalProfilesInRegion", actions=INVOKE,
                    resources=[self._model_arn(m, region=stack.region) for m in global_],
                    conditions={"StringEquals": {"aws:RequestedRegion": stack.region,
                                                 "bedrock:InferenceProfileArn": profiles}}),
                iam.PolicyStatement(
                    sid="InvokeModelsThroughGlobalProfiles", actions=INVOKE,
                    resources=[self._model_arn(m, region="") for m in global_],
                    conditions={"StringEquals": {"aws:RequestedRegion": "unspecified",
                                                 "bedrock:InferenceProfileArn": profiles}}),
            ]
        self.policy = iam.Policy(self, "Policy", roles=[role], statements=statements)
        for model_id in geographic:
            acknowledge(
                self.policy,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:bedrock:*::foundation-model/{base_model_id(model_id)}]",
                f"The model behind the geographic inference profile {model_id} runs in whichever Region of its "
                "geography the profile routes to, and AWS adds Regions over time. The grant holds only for "
                "requests that come through that one profile (condition bedrock:InferenceProfileArn).")

    def _direct_arn(self, model_id: str) -> str:
        return model_id if model_id.startswith("arn:") else self._model_arn(model_id, region=self._stack.region)

    def _model_arn(self, model_id: str, *, region: str) -> str:
        return f"arn:{self._stack.partition}:bedrock:{region}::foundation-model/{base_model_id(model_id)}"

    def _profile_arn(self, model_id: str) -> str:
        s = self._stack
        return f"arn:{s.partition}:bedrock:{s.region}:{s.account}:inference-profile/{model_id}"
