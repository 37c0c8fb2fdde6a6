"""cdk-nag acknowledgments, always on the construct that owns the finding and always with a reason.

cdk-nag 3 reports wildcard findings one by one ("AwsSolutions-IAM5[Resource::*]"), and an acknowledgment
must name the finding exactly: a bare rule id does not cover them, which keeps each one deliberate.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, finding: str, reason: str) -> None:
    if len(reason) < 40:
        raise ValueError(f"acknowledging {finding} needs a reason naming the control that covers the risk")
    Validations.of(construct).acknowledge(Acknowledgment(id=finding, reason=reason))


def arn_ref(resource: IConstruct, attribute: str = "Arn") -> str:
    """How cdk-nag spells a resource's attribute in a finding: <LogicalId.Arn> (or another attribute)."""
    cfn = resource.node.default_child
    assert isinstance(cfn, CfnResource)
    return f"<{Stack.of(resource).resolve(cfn.logical_id)}.{attribute}>"

