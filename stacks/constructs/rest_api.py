"""A regional REST API with the stage settings both of Tandem's APIs share.

The chat API (stacks/chatbot_stack.py) and the expert API (stacks/escalation_stack.py) are throttled, traced,
log errors only, never log bodies (they hold customer text, and the expert API's signatures), and write a
JSON access log to a log group of their own that goes with the stack. The account's API Gateway logging
role is DataStack's, so no API creates one.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.python_function import retention


def logged_rest_api(scope: Construct, construct_id: str, *, description: str, stage_name: str, rate_limit: int,
                    burst_limit: int, log_retention_days: int, access_logs_id: str, log_user: bool,
                    web_origin: str | None = None) -> apigw.RestApi:
    """log_user: whether the access log names the authenticated caller .
    web_origin: the web app's origin, whose pages call this API from their own domain (CloudFront): API
    Gateway answers their preflight (OPTIONS) itself, and its own refusals (a 401 of the authorizer, a body
    that fails the schema) carry the origin too, so the page can read why it was refused."""
    access_log = logs.LogGroup(scope, access_logs_id, retention=retention(log_retention_days),
                               removal_policy=RemovalPolicy.DESTROY)
    api = apigw.RestApi(
        scope, construct_id,
        description=description,
        endpoint_types=[apigw.EndpointType.REGIONAL],
        cloud_watch_role=False,
        deploy_options=apigw.StageOptions(
            stage_name=stage_name,
            throttling_rate_limit=rate_limit,
            throttling_burst_limit=burst_limit,
            tracing_enabled=True,
            metrics_enabled=True,
            logging_level=apigw.MethodLoggingLevel.ERROR,
            data_trace_enabled=False,
            access_log_destination=apigw.LogGroupLogDestination(access_log),
            # The request path is logged, never the query string (the expert links' signatures are there).
            access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                caller=False, http_method=True, ip=True, protocol=True, request_time=True,
                resource_path=True, response_length=True, status=True, user=log_user),
        ),
        default_cors_preflight_options=apigw.CorsOptions(
            allow_origins=[web_origin], allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"],
            max_age=Duration.minutes(10)) if web_origin else None,
    )
    if web_origin:
        for response_type in (apigw.ResponseType.DEFAULT_4_XX, apigw.ResponseType.DEFAULT_5_XX):
            api.add_gateway_response(f"Cors{response_type.response_type}", type=response_type, response_headers={
                "Access-Control-Allow-Origin": f"'{web_origin}'", "Vary": "'Origin'"})
    return api
