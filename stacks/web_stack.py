"""The deployed web app: the customer's chat (web/index.html) and the pages beside it (the experts' inbox, the
raters' console), served by CloudFront from a private bucket, with sign-in through the customer pool's managed
login (stacks/chatbot_stack.py).

- WebStack ("TandemWeb"): the bucket, the distribution and its response headers. It needs no other stack,
  so ChatbotStack can take its address for the sign-in's callback URLs.
- WebContentStack ("TandemWebContent"), created last: the files of web/ and the runtime settings the pages
  read at start (/config.json, the same shape local/demo.py serves), written from the other stacks' URLs and
  ids at deploy time, so one build serves every account and Region.

The pages that exist only in the local demo (the mailbox, behind the scenes) are not deployed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, DefaultStackSynthesizer, Duration, Fn, Stack
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from stacks.config import TandemConfig
from stacks.constructs.nag import acknowledge
from stacks.constructs.secure_bucket import access_log_bucket, secure_bucket
from stacks.sign_in import domain_host

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"
PAGE_PATHS_FUNCTION = Path(__file__).resolve().parent / "cloudfront" / "page_paths.js"
# The local demo's own pages and their scripts (local/demo.py serves them): they read the demo's local APIs,
# which a deployment does not have. Shared modules (render.js, inspect.css) are deployed for other pages.
DEMO_ONLY = ("mailbox.html", "behind-the-scenes.html", "assets/mailbox.js", "assets/behind-the-scenes.js")
# The pages the sign-in may return to (the pool client's callback and sign-out URLs), by their addresses.
SIGN_IN_PAGES = ("/", "/inbox", "/rate")
# How often the customer's page asks for an expert's messages while a conversation is open (as in the demo).
POLL_INTERVAL_MS = 1500


def content_security_policy(*, region: str, sign_in_host: str) -> str:
    """The pages' policy: code and styles from the site only, nothing inline; the pages may call the APIs
    (API Gateway's REST and WebSocket endpoints in this Region) and the managed login's token endpoint."""
    api = f"*.execute-api.{region}.amazonaws.com"
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            f"connect-src 'self' https://{api} wss://{api} https://{sign_in_host}; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class WebStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: TandemConfig, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.logs = access_log_bucket(self, "Logs", retention_days=config.log_retention_days)
        self.bucket = secure_bucket(self, "Site", access_logs=self.logs, log_prefix="site/", current_days=None)
        self.distribution = self._distribution(config)
        domain = config.web_domain_name or self.distribution.distribution_domain_name
        self.site_url = f"https://{domain}"
        # The addresses the sign-in may send people back to: exactly these, no wildcard (Cognito allows none).
        self.sign_in_urls = [f"{self.site_url}{path}" for path in SIGN_IN_PAGES]

        CfnOutput(self, "SiteUrl", value=f"{self.site_url}/", description="The customer's chat")
        CfnOutput(self, "InboxUrl", value=f"{self.site_url}/inbox", description="The experts' inbox")
        CfnOutput(self, "RateUrl", value=f"{self.site_url}/rate", description="The raters' console")
        # Named exports, so that the publishing stack's grants (and their cdk-nag findings) name them plainly.
        self._exports = {"SiteBucketName": self.bucket.bucket_name, "SiteBucketArn": self.bucket.bucket_arn,
                         "DistributionId": self.distribution.distribution_id,
                         "DistributionDomainName": self.distribution.distribution_domain_name}
        for name, value in self._exports.items():
            CfnOutput(self, name, value=value, export_name=self.export_name(name))

    def export_name(self, name: str) -> str:
        return f"{self.stack_name}-{name}"

    def site_for(self, consumer: Stack) -> tuple[s3.IBucket, cloudfront.IDistribution]:
        """The bucket and the distribution as `consumer` (another stack) imports them."""
        consumer.add_stack_dependency(self, "publishes to the site's bucket and invalidates its distribution")
        imported = {name: Fn.import_value(self.export_name(name)) for name in self._exports}
        bucket = s3.Bucket.from_bucket_attributes(consumer, "SiteBucket", bucket_name=imported["SiteBucketName"],
                                                  bucket_arn=imported["SiteBucketArn"])
        distribution = cloudfront.Distribution.from_distribution_attributes(
            consumer, "SiteDistribution", distribution_id=imported["DistributionId"],
            domain_name=imported["DistributionDomainName"])
        return bucket, distribution

    def _distribution(self, config: TandemConfig) -> cloudfront.Distribution:
        headers = cloudfront.ResponseHeadersPolicy(
            self, "SecurityHeaders", comment="Tandem web app: strict CSP, HSTS, no framing, no referrer",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy(region=Aws.REGION,
                                                                    sign_in_host=domain_host(config)),
                    override=True),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365), include_subdomains=True, override=True),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True),
            ))
        page_paths = cloudfront.Function(
            self, "PagePaths", comment="Tandem web app: /inbox is inbox.html, / is index.html",
            code=cloudfront.FunctionCode.from_file(file_path=str(PAGE_PATHS_FUNCTION)),
            runtime=cloudfront.FunctionRuntime.JS_2_0)
        custom_domain: dict[str, Any] = {}
        if config.web_domain_name:
            custom_domain = {
                "domain_names": [config.web_domain_name],
                "certificate": acm.Certificate.from_certificate_arn(self, "Certificate", config.web_certificate_arn),
                "minimum_protocol_version": cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            }
        distribution = cloudfront.Distribution(
            self, "Distribution", comment="Tandem web app",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
                function_associations=[cloudfront.FunctionAssociation(
                    function=page_paths, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST)],
            ),
            default_root_object="index.html",
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=True, log_bucket=self.logs, log_file_prefix="cloudfront/",
            **custom_domain,
        )
        acknowledge(
            distribution, "AwsSolutions-CFR1",
            "No geo restriction: the chat is for customers wherever they are; every API call it makes needs a "
            "Cognito token, and a restriction can be added to the distribution where a business needs one.",
        )
        acknowledge(
            distribution, "AwsSolutions-CFR2",
            "No WAF web ACL by default (it bills per ACL and rule): the distribution serves static files only, "
            "read-only (GET and HEAD) from a private bucket; the APIs behind the pages are throttled and "
            "need a Cognito token. Associate a web ACL with the distribution for IP or rate rules.",
        )
        if not config.web_domain_name:
            acknowledge(
                distribution, "AwsSolutions-CFR4",
                "CloudFront's default *.cloudfront.net certificate cannot be given a minimum protocol version "
                "(TLSv1.2_2021 needs a certificate of your own): set web_domain_name and web_certificate_arn "
                "in cdk.json to serve the site on your domain with TLS 1.2 or later only.",
            )
        return distribution


class WebContentStack(Stack):
    """The files of web/ (minus the demo's own pages) and /config.json, published to WebStack's bucket."""

    def __init__(self, scope: Construct, construct_id: str, *, config: TandemConfig, site: WebStack,
                 chat_api_url: str, expert_api_url: str, user_pool_id: str, web_client_id: str,
                 sign_in_url: str, live_url: str | None = None, rating_api_url: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings = runtime_settings(config, chat_api_url=chat_api_url, expert_api_url=expert_api_url,
                                    user_pool_id=user_pool_id, web_client_id=web_client_id,
                                    sign_in_url=sign_in_url, region=Aws.REGION, live_url=live_url,
                                    rating_api_url=rating_api_url)
        bucket, distribution = site.site_for(self)
        s3deploy.BucketDeployment(
            self, "Files",
            sources=[s3deploy.Source.asset(str(WEB), exclude=list(DEMO_ONLY)),
                     s3deploy.Source.json_data("config.json", settings)],
            destination_bucket=bucket,
            # The pages import their modules by fixed names: a browser must ask again after each deploy.
            cache_control=[s3deploy.CacheControl.no_cache()],
            distribution=distribution, distribution_paths=["/*"],
            memory_limit=256,
        )
        self._acknowledge_the_deployment_function(site)

    def _acknowledge_the_deployment_function(self, site: WebStack) -> None:
        """BucketDeployment's function is CDK's own singleton (its code, role and runtime are CDK's)."""
        function = next(child for child in self.node.children if child.node.id.startswith("Custom::CDKBucketDeployment"))
        role = function.node.find_child("ServiceRole")
        acknowledge(
            role, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                  "AWSLambdaBasicExecutionRole]",
            "CDK's BucketDeployment function writes its own logs with AWS's basic execution policy; it runs "
            "only during a CloudFormation deployment of this stack.",
        )
        # The bootstrap's file-asset bucket, as cdk-nag prints it.
        assets = (DefaultStackSynthesizer.DEFAULT_FILE_ASSETS_BUCKET_NAME
                  .replace("${Qualifier}", DefaultStackSynthesizer.DEFAULT_QUALIFIER)
                  .replace("${", "<").replace("}", ">"))
        wildcards = (*(f"AwsSolutions-IAM5[Action::s3:{action}*]"
                       for action in ("GetBucket", "GetObject", "List", "Abort", "DeleteObject")),
                     f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{assets}/*]",
                     f"AwsSolutions-IAM5[Resource::{site.export_name('SiteBucketArn')}/*]",
                     "AwsSolutions-IAM5[Resource::*]")
        for finding in wildcards:
            acknowledge(
                role.node.find_child("DefaultPolicy"), finding,
                "CDK's BucketDeployment grants: read the staged web files from the CDK assets bucket, write "
                "and prune the site bucket's objects, and invalidate the distribution (CreateInvalidation "
                "takes no resource ARN).",
            )
        acknowledge(
            function, "AwsSolutions-L1",
            "The runtime of CDK's BucketDeployment function is chosen by aws-cdk-lib and moves with it; it "
            "runs only during a CloudFormation deployment and serves no request.",
        )


def runtime_settings(config: TandemConfig, *, chat_api_url: str, expert_api_url: str, user_pool_id: str,
                     web_client_id: str, sign_in_url: str, region: str, live_url: str | None = None,
                     rating_api_url: str | None = None) -> dict[str, Any]:
    """What the pages read from /config.json (web/assets/auth.js checkConfig, cognito-auth.js)."""
    settings: dict[str, Any] = {
        "auth": {"kind": "cognito", "domain": sign_in_url, "clientId": web_client_id, "userPoolId": user_pool_id,
                 "region": region},
        "region": region,
        "chatApiUrl": chat_api_url,
        "expertApiUrl": expert_api_url,
        "maxMessageChars": config.max_message_chars,
        "pollIntervalMs": POLL_INTERVAL_MS,
        "model": {"id": config.model_id, "standIn": False},
    }
    if live_url is not None:
        settings["liveUrl"] = live_url
    if rating_api_url is not None:
        settings["ratingApiUrl"] = rating_api_url
    return settings
