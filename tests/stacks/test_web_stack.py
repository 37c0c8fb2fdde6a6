"""The deployed web app: WebStack (bucket, CloudFront, headers, page paths), the pool's web client and
managed login (ChatbotStack), and what WebContentStack publishes (the files of web/, config.json)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template

from local.cdk_app import tandem_assembly
from stacks.config import TandemConfig
from stacks.web_stack import DEMO_ONLY, PAGE_PATHS_FUNCTION, WEB, content_security_policy, runtime_settings

DEFAULT = TandemConfig()
REGION, ACCOUNT = "eu-west-1", "123456789012"
CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
CUSTOM_DOMAIN = {"web_domain_name": "chat.example.com", "web_certificate_arn": CERTIFICATE}
PSEUDO = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com", "AWS::Partition": "aws"}


def rendered(value: Any) -> str:
    """A CloudFormation value as text: pseudo parameters filled in, other references named in brackets."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(rendered(part) for part in parts)
    if "Ref" in value:
        return PSEUDO.get(value["Ref"], f"<{value['Ref']}>")
    if "Fn::ImportValue" in value:
        return f"<import {value['Fn::ImportValue']}>"
    if "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    raise AssertionError(f"unexpected value {value!r}")


def only(template: Template, type_: str) -> tuple[str, dict[str, Any]]:
    (found,) = template.find_resources(type_).items()
    return found[0], found[1]["Properties"]


def node() -> str:
    executable = shutil.which("node")
    assert executable, "Node.js is needed (the CDK app itself runs on it)"
    return executable


def run_node(script: str, *args: str) -> Any:
    result = subprocess.run([node(), "--input-type=module", "-e", script, *args], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def web(make_template) -> Template:
    return make_template("web")


@pytest.fixture(scope="module")
def distribution(web) -> dict[str, Any]:
    return only(web, "AWS::CloudFront::Distribution")[1]["DistributionConfig"]


# The bucket and the distribution -----------------------------------------------------------------------

def test_site_bucket_is_private_encrypted_and_ssl_only(web):
    site = web.find_resources("AWS::S3::Bucket", {"Properties": {"VersioningConfiguration": {"Status": "Enabled"}}})
    (logical_id, bucket), = site.items()
    properties = bucket["Properties"]
    assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all("ExpirationInDays" not in rule for rule in properties["LifecycleConfiguration"]["Rules"])  # the site stays
    (policy,) = [p["Properties"]["PolicyDocument"]["Statement"] for p in web.find_resources("AWS::S3::BucketPolicy").values()
                 if p["Properties"]["Bucket"] == {"Ref": logical_id}]
    denies = [s for s in policy if s["Effect"] == "Deny"]
    assert denies and denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # Only CloudFront, for this distribution (origin access control), may read; nobody else is allowed anything.
    (allow,) = [s for s in policy if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"} and allow["Action"] == "s3:GetObject"
    distribution_id, _ = only(web, "AWS::CloudFront::Distribution")
    assert rendered(allow["Condition"]["StringEquals"]["AWS:SourceArn"]) == (
        f"arn:aws:cloudfront::{ACCOUNT}:distribution/<{distribution_id}>")


def test_distribution_reads_the_bucket_with_origin_access_control(web, distribution):
    oac_id, oac = only(web, "AWS::CloudFront::OriginAccessControl")
    assert oac["OriginAccessControlConfig"]["SigningBehavior"] == "always"
    assert oac["OriginAccessControlConfig"]["OriginAccessControlOriginType"] == "s3"
    (origin,) = distribution["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert origin["S3OriginConfig"]["OriginAccessIdentity"] == ""  # no legacy origin access identity
    web.resource_count_is("AWS::CloudFront::CloudFrontOriginAccessIdentity", 0)


def test_https_only_with_the_index_as_root_and_read_only_methods(distribution):
    behavior = distribution["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert distribution["DefaultRootObject"] == "index.html"


def test_standard_logs_go_to_a_bucket_that_accepts_them(web, distribution):
    logging = distribution["Logging"]
    logs_id = logging["Bucket"]["Fn::GetAtt"][0]
    logs = web.find_resources("AWS::S3::Bucket")[logs_id]["Properties"]
    # CloudFront's standard logs are written with an ACL grant: the bucket must keep ACLs enabled.
    assert logs["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerPreferred"}]
    assert logs["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"}  # CloudFront cannot write to a bucket encrypted with SSE-KMS
    assert set(logs["PublicAccessBlockConfiguration"].values()) == {True}
    assert logging["Prefix"] == "cloudfront/"


def test_response_headers_are_strict(web, distribution):
    policy_id, policy = only(web, "AWS::CloudFront::ResponseHeadersPolicy")
    assert distribution["DefaultCacheBehavior"]["ResponseHeadersPolicyId"] == {"Ref": policy_id}
    headers = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = headers["ContentSecurityPolicy"]
    assert csp["Override"] is True
    directives = {d.split()[0]: d.split()[1:] for d in rendered(csp["ContentSecurityPolicy"]).split("; ")}
    assert directives == {
        "default-src": ["'none'"], "script-src": ["'self'"], "style-src": ["'self'"], "img-src": ["'self'"],
        "connect-src": ["'self'", f"https://*.execute-api.{REGION}.amazonaws.com",
                        f"wss://*.execute-api.{REGION}.amazonaws.com",
                        f"https://tandem-{ACCOUNT}.auth.{REGION}.amazoncognito.com"],
        "form-action": ["'self'"], "frame-ancestors": ["'none'"], "base-uri": ["'none'"],
    }
    assert headers["StrictTransportSecurity"] == {"AccessControlMaxAgeSec": 31536000, "IncludeSubdomains": True,
                                                  "Override": True}
    assert headers["ContentTypeOptions"] == {"Override": True}
    assert headers["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert headers["ReferrerPolicy"] == {"ReferrerPolicy": "no-referrer", "Override": True}


def test_the_policy_names_the_configured_sign_in_domain(make_template):
    policy = only(make_template("web", sign_in_domain_prefix="acme-support"), "AWS::CloudFront::ResponseHeadersPolicy")[1]
    csp = rendered(policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]["ContentSecurityPolicy"]
                   ["ContentSecurityPolicy"])
    assert f"https://acme-support.auth.{REGION}.amazoncognito.com;" in csp
    assert csp == content_security_policy(region=REGION, sign_in_host=f"acme-support.auth.{REGION}.amazoncognito.com")


# Page paths: the CloudFront Function, run ------------------------------------------------------------------

RUN_FUNCTION = """
import vm from "node:vm";
const handler = vm.runInNewContext(process.argv[1] + "\\nhandler;", {});
console.log(JSON.stringify(JSON.parse(process.argv[2]).map((event) => handler(event))));
"""


def viewer_request(uri: str, querystring: dict[str, Any] | None = None) -> dict[str, Any]:
    """A viewer-request event as CloudFront Functions get it (AWS's "event structure" page)."""
    return {"version": "1.0", "context": {"distributionDomainName": "d111111abcdef8.cloudfront.net",
                                          "distributionId": "EDFDVBD6EXAMPLE", "eventType": "viewer-request",
                                          "requestId": "EXAMPLE"},
            "viewer": {"ip": "198.51.100.11"},
            "request": {"method": "GET", "uri": uri, "querystring": querystring or {}, "headers": {}, "cookies": {}}}


def test_the_deployed_function_is_the_page_paths_file_on_viewer_request(web, distribution):
    function_id, function = only(web, "AWS::CloudFront::Function")
    assert function["FunctionCode"] == PAGE_PATHS_FUNCTION.read_text()
    assert function["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    (association,) = distribution["DefaultCacheBehavior"]["FunctionAssociations"]
    assert association == {"EventType": "viewer-request", "FunctionARN": {"Fn::GetAtt": [function_id, "FunctionARN"]}}


@pytest.mark.parametrize("uri, served", [
    ("/", "/index.html"),
    ("/inbox", "/inbox.html"),
    ("/inbox/", "/inbox.html"),
    ("/rate", "/rate.html"),
    ("/index.html", "/index.html"),
    ("/assets/chat.js", "/assets/chat.js"),
    ("/config.json", "/config.json"),
])
def test_page_paths_function_maps_addresses_to_objects(web, uri, served):
    code = only(web, "AWS::CloudFront::Function")[1]["FunctionCode"]
    (request,) = run_node(RUN_FUNCTION, code, json.dumps([viewer_request(uri)]))
    assert request["uri"] == served


def test_page_paths_function_keeps_the_sign_in_answer(web):
    code = only(web, "AWS::CloudFront::Function")[1]["FunctionCode"]
    query = {"code": {"value": "ac0d-e"}, "state": {"value": "xyz"}}
    (request,) = run_node(RUN_FUNCTION, code, json.dumps([viewer_request("/inbox", query)]))
    assert request["uri"] == "/inbox.html" and request["querystring"] == query


# CloudFront's certificate and a domain of your own ---------------------------------------------------------

def test_default_domain_uses_cloudfronts_certificate(web, distribution):
    assert "ViewerCertificate" not in distribution and "Aliases" not in distribution
    outputs = web.find_outputs("SiteUrl")["SiteUrl"]
    distribution_id, _ = only(web, "AWS::CloudFront::Distribution")
    assert rendered(outputs["Value"]) == f"https://<{distribution_id}.DomainName>/"


def test_a_custom_domain_gets_its_certificate_and_tls_1_2_or_later(make_template):
    template = make_template("web", **CUSTOM_DOMAIN)
    config = only(template, "AWS::CloudFront::Distribution")[1]["DistributionConfig"]
    assert config["Aliases"] == ["chat.example.com"]
    assert config["ViewerCertificate"] == {"AcmCertificateArn": CERTIFICATE, "MinimumProtocolVersion": "TLSv1.2_2021",
                                           "SslSupportMethod": "sni-only"}
    assert template.find_outputs("SiteUrl")["SiteUrl"]["Value"] == "https://chat.example.com/"
    assert template.find_outputs("InboxUrl")["InboxUrl"]["Value"] == "https://chat.example.com/inbox"
    assert template.find_outputs("RateUrl")["RateUrl"]["Value"] == "https://chat.example.com/rate"


# Sign-in: the pool's managed login, web client and groups ----------------------------------------------------

def web_client(template: Template) -> dict[str, Any]:
    clients = [c["Properties"] for c in template.find_resources("AWS::Cognito::UserPoolClient").values()
               if c["Properties"].get("CallbackURLs")]
    assert len(clients) == 1, "one client returns to the site"
    return clients[0]


def test_web_client_is_public_code_grant_only_back_to_the_sites_pages(template, web):
    client = web_client(template)
    assert client["GenerateSecret"] is False
    assert client["AllowedOAuthFlows"] == ["code"]  # no implicit grant: tokens never in the address bar
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert sorted(client["AllowedOAuthScopes"]) == ["email", "openid", "profile"]
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["ExplicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    assert client["EnableTokenRevocation"] is True
    distribution_id, _ = only(web, "AWS::CloudFront::Distribution")
    site = rf"https://<import TandemWeb:\w+{distribution_id}DomainName\w+>"
    urls = [rendered(url) for url in client["CallbackURLs"]]
    assert len(urls) == 3 and re.fullmatch(f"{site}/", urls[0]) and re.fullmatch(f"{site}/inbox", urls[1])
    assert re.fullmatch(f"{site}/rate", urls[2])  # the raters' console signs in on its own page
    assert client["LogoutURLs"] == client["CallbackURLs"]


def test_web_client_tokens_last_as_the_other_clients(template):
    clients = [c["Properties"] for c in template.find_resources("AWS::Cognito::UserPoolClient").values()]
    assert len(clients) == 2
    lifetimes = {(c["IdTokenValidity"], c["AccessTokenValidity"], c["RefreshTokenValidity"],
                  json.dumps(c["TokenValidityUnits"], sort_keys=True)) for c in clients}
    assert lifetimes == {(60, 60, 43200, json.dumps({"AccessToken": "minutes", "IdToken": "minutes",
                                                     "RefreshToken": "minutes"}, sort_keys=True))}


def test_the_api_client_takes_no_part_in_oauth(template):
    (api_client,) = [c["Properties"] for c in template.find_resources("AWS::Cognito::UserPoolClient").values()
                     if not c["Properties"].get("CallbackURLs")]
    assert api_client["AllowedOAuthFlowsUserPoolClient"] is False
    assert "AllowedOAuthFlows" not in api_client


def test_custom_domain_callbacks(make_template):
    client = web_client(make_template(**CUSTOM_DOMAIN))
    assert client["CallbackURLs"] == ["https://chat.example.com/", "https://chat.example.com/inbox",
                                      "https://chat.example.com/rate"]


def test_managed_login_domain_version_2_with_cognitos_branding(template):
    pool_id, _ = only(template, "AWS::Cognito::UserPool")
    assert pool_id == "Customers6955EA0A"  # a new logical id would replace the pool and lose every account
    _, domain = only(template, "AWS::Cognito::UserPoolDomain")
    assert domain["ManagedLoginVersion"] == 2
    assert rendered(domain["Domain"]) == f"tandem-{ACCOUNT}"
    _, branding = only(template, "AWS::Cognito::ManagedLoginBranding")
    assert branding["UseCognitoProvidedValues"] is True
    assert branding["UserPoolId"] == {"Ref": pool_id}
    client_id = next(k for k, c in template.find_resources("AWS::Cognito::UserPoolClient").items()
                     if c["Properties"].get("CallbackURLs"))
    assert branding["ClientId"] == {"Ref": client_id}
    url = template.find_outputs("ManagedLoginUrl")["ManagedLoginUrl"]["Value"]
    assert re.fullmatch(rf"https://<\w+>\.auth\.{REGION}\.amazoncognito\.com", rendered(url))


def test_configured_sign_in_domain_prefix(make_template):
    _, domain = only(make_template(sign_in_domain_prefix="acme-support"), "AWS::Cognito::UserPoolDomain")
    assert domain["Domain"] == "acme-support"


def test_experts_raters_and_rating_admins_groups(template):
    groups = {g["Properties"]["GroupName"]: g["Properties"] for g in
              template.find_resources("AWS::Cognito::UserPoolGroup").values()}
    assert set(groups) == {"experts", "raters", "rating-admins"}
    pool_id, _ = only(template, "AWS::Cognito::UserPool")
    for group in groups.values():
        assert group["UserPoolId"] == {"Ref": pool_id} and len(group["Description"]) > 20


# What is published: the files and config.json -----------------------------------------------------------------

@pytest.fixture(scope="module")
def published() -> dict[str, Any]:
    """The content stack's template and its assembly folder, where the deployment's sources are staged."""
    assembly = tandem_assembly()
    return {"template": assembly.get_stack_by_name("TandemWebContent").template, "folder": Path(assembly.directory)}


def deployment(published: dict[str, Any]) -> dict[str, Any]:
    (found,) = [r["Properties"] for r in published["template"]["Resources"].values()
                if r["Type"] == "Custom::CDKBucketDeployment"]
    return found


def source_folder(published: dict[str, Any], index: int) -> Path:
    key = deployment(published)["SourceObjectKeys"][index]
    return published["folder"] / f"asset.{key.removesuffix('.zip')}"


def published_config(published: dict[str, Any]) -> dict[str, Any]:
    """config.json as the deployment writes it: each deploy-time marker replaced by its value."""
    text = (source_folder(published, 1) / "config.json").read_text()
    for marker, value in deployment(published)["SourceMarkers"][1].items():
        text = text.replace(marker, rendered(value))
    return dict(json.loads(text))


def test_deployment_writes_the_site_bucket_prunes_and_invalidates(published):
    properties = deployment(published)
    assert properties["DestinationBucketName"] == {"Fn::ImportValue": "TandemWeb-SiteBucketName"}
    assert properties["DistributionId"] == {"Fn::ImportValue": "TandemWeb-DistributionId"}
    assert properties["DistributionPaths"] == ["/*"]
    assert properties["Prune"] is True
    assert properties["SystemMetadata"] == {"cache-control": "no-cache"}


def test_demo_only_pages_are_not_deployed_and_the_rest_is(published):
    folder = source_folder(published, 0)
    deployed = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    local = {p.relative_to(WEB).as_posix() for p in WEB.rglob("*") if p.is_file()}
    assert {"mailbox.html", "behind-the-scenes.html"} <= set(DEMO_ONLY)
    assert deployed == local - set(DEMO_ONLY)
    assert {"index.html", "assets/cognito-auth.js"} <= deployed


def test_every_deployed_page_finds_what_it_loads(published):
    folder = source_folder(published, 0)
    for file in [*folder.glob("*.html"), *folder.glob("assets/*.js")]:
        text = file.read_text()
        wanted = re.findall(r'(?:href|src)="/(assets/[\w.-]+)"', text)
        wanted += [f"assets/{name}" for name in re.findall(r'from "\./([\w.-]+)"', text)]
        missing = [path for path in wanted if not (folder / path).exists()]
        assert missing == [], f"{file.name} loads what is not deployed"


def test_config_json_has_the_deployed_urls_and_ids(published):
    config = published_config(published)
    assert config["auth"]["kind"] == "cognito"
    assert re.fullmatch(rf"https://<import TandemChatbot:\w+SignInDomain\w+>\.auth\.{REGION}\.amazoncognito\.com",
                        config["auth"]["domain"])
    assert re.fullmatch(r"<import TandemChatbot:\w+WebClient\w+>", config["auth"]["clientId"])
    assert re.fullmatch(r"<import TandemChatbot:\w+Customers\w+>", config["auth"]["userPoolId"])
    assert config["region"] == config["auth"]["region"] == REGION
    assert re.fullmatch(rf"https://<import TandemChatbot:\w+ChatApi\w+>\.execute-api\.{REGION}\.amazonaws\.com/"
                        r"<import TandemChatbot:\w+Stageprod\w+>/", config["chatApiUrl"])
    assert re.fullmatch(rf"https://<import TandemEscalation:\w+ExpertApi\w+>\.execute-api\.{REGION}\.amazonaws\.com/"
                        r"<import TandemEscalation:\w+>/", config["expertApiUrl"])
    assert config["maxMessageChars"] == DEFAULT.max_message_chars
    assert config["model"] == {"id": DEFAULT.model_id, "standIn": False}
    assert re.fullmatch(r"wss://<import TandemLive:\w+>\.execute-api\.[\w-]+\.amazonaws\.com/live", config["liveUrl"])
    assert re.fullmatch(rf"https://<import TandemFeedback:\w+RatingApi\w+>\.execute-api\.{REGION}\.amazonaws\.com/"
                        r"<import TandemFeedback:\w+>/", config["ratingApiUrl"])


def test_the_pages_policy_lets_them_call_every_api_in_config_json(published, web):
    """connect-src must cover each API the pages call: a URL it does not match is refused by the browser."""
    policy = only(web, "AWS::CloudFront::ResponseHeadersPolicy")[1]
    csp = rendered(policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]["ContentSecurityPolicy"]
                   ["ContentSecurityPolicy"])
    sources = next(d.split()[1:] for d in csp.split("; ") if d.startswith("connect-src "))
    config = published_config(published)
    for key in ("chatApiUrl", "expertApiUrl", "ratingApiUrl", "liveUrl"):
        scheme, _, rest = config[key].partition("://")
        host = rest.split("/", 1)[0]
        assert any(source == f"{scheme}://{host}" or (source.startswith(f"{scheme}://*.")
                                                     and host.endswith(source.removeprefix(f"{scheme}://*")))
                   for source in sources), (key, config[key], sources)


LOAD_CONFIG = """
import { pathToFileURL } from "node:url";
const served = JSON.parse(process.argv[1]);
globalThis.fetch = async () => ({ ok: true, status: 200, json: async () => served });
const { loadConfig } = await import(pathToFileURL(process.argv[2]).href);
try {
  console.log(JSON.stringify({ config: await loadConfig() }));
} catch (error) {
  console.log(JSON.stringify({ refused: error.message }));
}
"""


def test_config_json_passes_the_pages_own_check(published):
    answer = run_node(LOAD_CONFIG, json.dumps(published_config(published)), str(WEB / "assets" / "auth.js"))
    assert "refused" not in answer, answer
    assert answer["config"]["pollIntervalMs"] == published_config(published)["pollIntervalMs"]
    # The check does refuse settings that lack what the chat needs.
    broken = {k: v for k, v in published_config(published).items() if k != "maxMessageChars"}
    assert "maxMessageChars" in run_node(LOAD_CONFIG, json.dumps(broken), str(WEB / "assets" / "auth.js"))["refused"]


def test_a_live_url_is_written_when_given():
    urls = {"chat_api_url": "https://a.example/prod/", "expert_api_url": "https://b.example/experts/",
            "user_pool_id": "eu-west-1_AbC", "web_client_id": "abc123", "sign_in_url": "https://x.example",
            "region": REGION}
    assert "liveUrl" not in runtime_settings(DEFAULT, **urls)
    live = runtime_settings(DEFAULT, **urls, live_url="wss://c.example/live")
    assert live["liveUrl"] == "wss://c.example/live"


def test_a_rating_api_url_is_written_when_given():
    urls = {"chat_api_url": "https://a.example/prod/", "expert_api_url": "https://b.example/experts/",
            "user_pool_id": "eu-west-1_AbC", "web_client_id": "abc123", "sign_in_url": "https://x.example",
            "region": REGION}
    assert "ratingApiUrl" not in runtime_settings(DEFAULT, **urls)
    assert runtime_settings(DEFAULT, **urls, rating_api_url="https://d.example/ratings/")["ratingApiUrl"] == \
        "https://d.example/ratings/"
