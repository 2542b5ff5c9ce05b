"""moto_server with IAM enforced the way AWS evaluates it, for the stack test.

moto can enforce IAM (INITIAL_NO_AUTH_ACTION_COUNT), but as shipped it is
wrong in both directions for this stack, so the test would prove nothing:

- too strict: DynamoDB and Step Functions requests are checked against the
  resource "*", so a grant scoped to the table or the state machine (as every
  one in infra/template.yaml is) is denied;
- too lenient: condition operators other than StringEquals are ignored (an
  `s3:prefix` StringLike condition on ListBucket always passes), and a
  presigned URL (query-string signature) is not authorised at all;
- a bucket policy's Bool condition is ignored, so the template's TLS-only
  Deny would deny every object request.

This launcher runs moto_server with those points put right:

- each request is checked against the ARN AWS checks: the table (and index)
  for DynamoDB, the state machine or execution for Step Functions, "*" for
  SendTask* (AWS accepts no resource-level grant for them), the queue for SQS,
  the bucket or object for S3;
- S3 API names become the IAM actions AWS checks (ListObjectsV2 is
  s3:ListBucket, HeadObject is s3:GetObject, ...);
- statements are evaluated with their conditions (StringEquals/Like, their Not
  forms, Bool, Arn*, IfExists); an Allow whose condition does not hold grants
  nothing, a Deny whose condition holds denies; an unknown operator is an
  error, never a pass; `s3:prefix` comes from the list request;
- a presigned request is authorised as its signer (X-Amz-Credential and
  X-Amz-Security-Token name the role whose grant S3 checks) and refused once
  expired. Its signature itself is not verified: moto cannot, and the test
  says so;
- the bucket policy is evaluated with its conditions, aws:SecureTransport
  true (the stack's clients all use TLS; only this loopback server is http).

Every denial is appended, one JSON line each, to $LIKENESS_IAM_DENIALS (role,
action, resource), so a failing test can name what was refused.

Usage: iam_moto.py -H 127.0.0.1 -p PORT (moto_server's arguments).
"""

import datetime
import fnmatch
import json
import os
import sys
from urllib.parse import parse_qs, urlparse

from moto import server, settings
from moto.core import authorization
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError
from moto.iam import access_control
from moto.iam.access_control import (
    CreateAccessKeyFailure,
    IAMPolicy,
    IAMRequestBase,
    create_access_key,
)

DENIALS = os.environ.get("LIKENESS_IAM_DENIALS")

# The S3 API operations moto names, as the IAM actions AWS authorises them by.
S3_IAM_ACTIONS = {
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "HeadBucket": "ListBucket",
    "HeadObject": "GetObject",
    "GetObjectAttributes": "GetObject",
    "DeleteObjects": "DeleteObject",
    "CopyObject": "PutObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "ListBucketMultipartUploads": "ListBucketMultipartUploads",
}


def iam_action(action: str) -> str:
    service, _, name = action.partition(":")
    if service == "s3":
        name = S3_IAM_ACTIONS.get(name, name)
    return f"{service}:{name}"


def record_denial(principal: str, action: str, resource: str) -> None:
    if DENIALS:
        with open(DENIALS, "a", encoding="utf-8") as out:
            out.write(
                json.dumps({"principal": principal, "action": action, "resource": resource})
                + "\n"
            )


# ------------------------------------------------------------ policy evaluation


def as_list(value):
    return value if isinstance(value, list) else [value]


def glob(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern)


def condition_holds(operator: str, expected, actual) -> bool:
    """One condition operator over one context key, as IAM evaluates it."""
    if_exists = operator.endswith("IfExists")
    op = operator[: -len("IfExists")] if if_exists else operator
    if actual is None:
        # A missing key satisfies only ...IfExists and the negated operators.
        return if_exists or op in ("StringNotEquals", "StringNotLike", "ArnNotEquals", "ArnNotLike")
    expected = [str(e) for e in as_list(expected)]
    if op == "StringEquals" or op == "ArnEquals":
        return actual in expected
    if op == "StringNotEquals" or op == "ArnNotEquals":
        return actual not in expected
    if op == "StringLike" or op == "ArnLike":
        return any(glob(e, actual) for e in expected)
    if op == "StringNotLike" or op == "ArnNotLike":
        return not any(glob(e, actual) for e in expected)
    if op == "Bool":
        return actual.lower() in [e.lower() for e in expected]
    raise ValueError(f"condition operator {operator} is not evaluated by this test server")


def conditions_hold(conditions, context) -> bool:
    for operator, keys in (conditions or {}).items():
        for key, expected in keys.items():
            if not condition_holds(operator, expected, context.get(key)):
                return False
    return True


def statement_effect(statement, action: str, resource: str, context):
    """'Allow', 'Deny' or None (the statement does not apply)."""
    if "Action" in statement:
        if not any(glob(a, action, case_sensitive=False) for a in as_list(statement["Action"])):
            return None
    elif any(glob(a, action, case_sensitive=False) for a in as_list(statement["NotAction"])):
        return None
    if "Resource" in statement:
        if not any(glob(r, resource) for r in as_list(statement["Resource"])):
            return None
    elif "NotResource" in statement:
        if any(glob(r, resource) for r in as_list(statement["NotResource"])):
            return None
    if not conditions_hold(statement.get("Condition"), context):
        return None
    return statement["Effect"]


def policy_document(policy):
    # IAMPolicy knows the shapes moto stores policies in (managed, inline).
    return IAMPolicy(policy)._policy_json


def decide(policies, action: str, resource: str, context) -> bool:
    allowed = False
    for policy in policies:
        for statement in as_list(policy_document(policy)["Statement"]):
            effect = statement_effect(statement, action, resource, context)
            if effect == "Deny":
                return False
            if effect == "Allow":
                allowed = True
    return allowed


def request_context(query, action: str):
    """The condition keys a request supplies, from its parsed query string."""
    if action == "s3:ListBucket":
        return {"s3:prefix": query.get("prefix", [""])[0]}
    return {}


def check_action_permitted(self, resource: str) -> None:
    action = iam_action(self._action)
    if action == "sts:GetCallerIdentity":
        return
    context = request_context(parse_qs(urlparse(self._path).query, keep_blank_values=True), action)
    if not decide(self._access_key.collect_policies(), action, resource, context):
        record_denial(self._access_key.arn, action, resource)
        self._raise_access_denied_for(action, resource)


def raise_access_denied_for(self, action: str, resource: str) -> None:
    if self._service == "s3":
        self._raise_access_denied()
    raise AccessDeniedError(user_arn=self._access_key.arn, action=f"{action} on resource: {resource}")


IAMRequestBase.check_action_permitted = check_action_permitted
IAMRequestBase._raise_access_denied_for = raise_access_denied_for


# ------------------------------------------------------ presigned S3 requests

original_authorize = ActionAuthenticatorMixin._authenticate_and_authorize_action


def authorize(self, iam_request_cls, resource="*"):
    if ActionAuthenticatorMixin.request_count < settings.INITIAL_NO_AUTH_ACTION_COUNT:
        ActionAuthenticatorMixin.request_count += 1
        return
    query = {**parse_qs(urlparse(self.uri).query), **(getattr(self, "querystring", None) or {})}
    if "X-Amz-Credential" in query and "Authorization" not in self.headers:
        return authorize_presigned(self, resource, query)
    return original_authorize(self, iam_request_cls, resource)


def authorize_presigned(self, resource: str, query) -> None:
    from moto.s3.exceptions import S3AccessDeniedError

    credential = query["X-Amz-Credential"][0].split("/")
    headers = {}
    if "X-Amz-Security-Token" in query:
        headers["X-Amz-Security-Token"] = query["X-Amz-Security-Token"][0]
    action = iam_action(f"s3:{self._get_action()}")
    try:
        signer = create_access_key(
            account_id=self.current_account,
            partition="aws",
            access_key_id=credential[0],
            headers=headers,
        )
    except CreateAccessKeyFailure:
        record_denial(f"unknown access key {credential[0]}", action, resource)
        raise S3AccessDeniedError()
    signed_at = datetime.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.timezone.utc
    )
    expires = signed_at + datetime.timedelta(seconds=int(query["X-Amz-Expires"][0]))
    if datetime.datetime.now(datetime.timezone.utc) > expires:
        record_denial(signer.arn, action, f"{resource} (presigned URL expired)")
        raise S3AccessDeniedError()
    if not decide(signer.collect_policies(), action, resource, request_context(query, action)):
        record_denial(signer.arn, action, resource)
        raise S3AccessDeniedError()


ActionAuthenticatorMixin._authenticate_and_authorize_action = authorize


# ------------------------------------------- the resources AWS authorises by


def dynamodb_resource(self) -> str:
    body = getattr(self, "params", None) or {}
    table = body.get("TableName")
    if table is None:
        # Batch and transaction requests: the first table they name (the
        # stack has one table).
        for key in ("RequestItems",):
            if body.get(key):
                table = next(iter(body[key]))
        for item in body.get("TransactItems", []) or []:
            for op in item.values():
                table = table or op.get("TableName")
    if table is None:
        return "*"
    arn = f"arn:aws:dynamodb:{self.region}:{self.current_account}:table/{table}"
    if body.get("IndexName"):
        arn += f"/index/{body['IndexName']}"
    return arn


def stepfunctions_resource(self) -> str:
    body = json.loads(self.body or "{}") if isinstance(self.body, (str, bytes)) else {}
    for key in ("executionArn", "stateMachineArn"):
        if body.get(key):
            return body[key]
    return "*"


def bucket_permission(self, action: str, resource: str):
    """The bucket policy, evaluated with its conditions. Every client of the
    deployed stack talks TLS to S3 (the SDKs and presigned URLs are https);
    only this loopback test runs plain http, so aws:SecureTransport is true."""
    from moto.iam.access_control import PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    context = {"aws:SecureTransport": "true"}
    allowed = False
    for statement in as_list(json.loads(self.policy.decode())["Statement"]):
        effect = statement_effect(statement, action, resource, context)
        if effect == "Deny":
            return PermissionResult.DENIED
        allowed = allowed or effect == "Allow"
    return PermissionResult.PERMITTED if allowed else PermissionResult.NEUTRAL


def install_resource_rules() -> None:
    from moto.dynamodb.responses import DynamoHandler
    from moto.stepfunctions.responses import StepFunctionResponse

    from moto.s3.models import FakeBucket

    FakeBucket.get_permission = bucket_permission
    DynamoHandler._determine_resource = dynamodb_resource
    StepFunctionResponse._determine_resource = stepfunctions_resource


install_resource_rules()


# ----------------------------------------- the state machine's own requests
# moto's ASL interpreter makes its service calls (the render task's SQS send)
# over HTTP to this server with made-up keys. On AWS those calls carry the
# state machine's execution role: here too, so a missing grant on that role
# fails. The one exception is the harness queue that stands in for Lambda
# (deploy.py), which the role cannot name; deploy.py checks the role's
# lambda:InvokeFunction grants instead, and those sends go as the deployer.

HARNESS_QUEUE_SUFFIX = "-harness-lambda-invocations"


class StateMachineClient:
    def __init__(self, as_role, as_harness):
        self._role, self._harness = as_role, as_harness

    def send_message(self, **kwargs):
        client = self._harness if kwargs.get("QueueUrl", "").endswith(HARNESS_QUEUE_SUFFIX) else self._role
        return client.send_message(**kwargs)

    def __getattr__(self, name):
        return getattr(self._role, name)


def state_machine_client(region, service, state_credentials=None):
    import boto3
    from botocore.config import Config
    from moto.iam.models import iam_backends
    # The interpreting backend (execute_state_machine), not the canned one.
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends as stepfunctions_backends
    from moto.sts.models import sts_backends

    account = "123456789012"
    machines = [m for backend in stepfunctions_backends[account].values() for m in backend.state_machines]
    if len(machines) != 1:
        raise RuntimeError(f"expected the stack's one state machine, found {len(machines)}")
    role = sts_backends[account]["aws"].assume_role(
        region_name=machines[0].arn.split(":")[3],
        role_session_name="states",
        role_arn=machines[0].roleArn,
        policy=None,
        duration=3600,
        external_id=None,
    )
    deployer = iam_backends[account]["aws"].get_user("deployer").access_keys[0]
    config = Config(parameter_validation=False, retries={"max_attempts": 0, "total_max_attempts": 1})
    endpoint = f"http://127.0.0.1:{os.environ['MOTO_PORT']}"

    def client(key, secret, token=None):
        return boto3.client(
            service, region_name=region, endpoint_url=endpoint, config=config,
            aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
        )

    return StateMachineClient(
        client(role.access_key_id, role.secret_access_key, role.session_token),
        client(deployer.access_key_id, deployer.secret_access_key),
    )


def install_state_machine_identity() -> None:
    import importlib
    import pkgutil

    import moto.stepfunctions.parser as parser
    from moto.stepfunctions.parser.asl.utils import boto_client

    boto_client.boto_client_for = state_machine_client
    for info in pkgutil.walk_packages(parser.__path__, parser.__name__ + "."):
        try:
            module = importlib.import_module(info.name)
        except Exception:  # modules for services this stack does not use
            continue
        if getattr(module, "boto_client_for", None) is not None:
            module.boto_client_for = state_machine_client


if __name__ == "__main__":
    argv = sys.argv[1:]
    os.environ["MOTO_PORT"] = argv[argv.index("-p") + 1]
    install_state_machine_identity()
    server.main(argv)
