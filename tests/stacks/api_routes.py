"""The methods of a synthesized REST API, as (HTTP method, resource path) pairs: what API Gateway sends to
the function, for comparing with the function's routes (lambdas/common/http_api.py, HttpApi.routes)."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Template


def api_methods(template: Template) -> set[tuple[str, str]]:
    resources = template.find_resources("AWS::ApiGateway::Resource")

    def path(reference: dict[str, Any]) -> str:
        if "Fn::GetAtt" in reference:  # the API's root resource
            return ""
        resource = resources[reference["Ref"]]["Properties"]
        return f"{path(resource['ParentId'])}/{resource['PathPart']}"

    # The function's methods; a CORS preflight (a MOCK integration) is API Gateway's own answer.
    return {(method["Properties"]["HttpMethod"], path(method["Properties"]["ResourceId"]) or "/")
            for method in template.find_resources("AWS::ApiGateway::Method").values()
            if method["Properties"]["Integration"]["Type"] == "AWS_PROXY"}
