"""Deploys infra/template.yaml into a moto_server, as CloudFormation would.

The template is transformed by AWS's own SAM translator (aws-sam-translator,
the library `sam` uses), then every resource moto can hold is created from the
transformed template: nothing here names a queue, a policy or a setting of its
own. Intrinsic functions (Ref, GetAtt, Sub, Join, If, ...) are resolved the way
CloudFormation resolves them; physical names follow CloudFormation's pattern.

What is adapted, and why (printed in the output as `adaptations`):
- `DefinitionUri` and `CodeUri` are what `sam package` would upload: the
  definition file is inlined, the code is not needed (the test runs each
  function's shipped binary itself).
- moto's Step Functions interpreter cannot invoke a Lambda function without
  Docker, so each `lambda:invoke` state is deployed as an SQS callback state
  on a queue of the test harness carrying the same Payload and FunctionName;
  the harness plays Lambda. The state machine role's right to invoke each of
  those functions (and to send to the render queue) is checked explicitly
  here, with the same policy evaluator the server uses.
- Lambda functions, event source mappings, the HTTP API, ECS, EC2, Auto
  Scaling and alarms are not created in moto; they are listed as `skipped`
  (with the reason), and their settings (environment, roles, batch sizes,
  CORS, task definition) are given to the harness instead.

Usage: deploy.py ENDPOINT_URL [Param=Value ...] > stack.json
The server must run with INITIAL_NO_AUTH_ACTION_COUNT=3: this script spends
those three unauthenticated calls creating the deployer it then works as.
"""

import copy
import json
import os
import sys

import boto3
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from iam_moto import decide  # noqa: E402  (the evaluator the server uses)

ACCOUNT = "123456789012"
SUFFIX = "T3ST5TACK"
LAMBDA_SERVICE = "lambda.amazonaws.com"


def samconfig():
    """Stack name, region and parameter overrides from samconfig.toml."""
    import tomllib

    with open(os.path.join(ROOT, "samconfig.toml"), "rb") as f:
        config = tomllib.load(f)["default"]
    glob = config["global"]["parameters"]
    overrides = {}
    for pair in config["deploy"]["parameters"].get("parameter_overrides", "").split():
        name, _, value = pair.partition("=")
        overrides[name] = value
    return glob["stack_name"], glob["region"], overrides


# The property that names a resource when the template gives the name itself.
NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::IAM::Role": "RoleName",
}


class NoValue:
    pass


class Stack:
    def __init__(self, template, parameters, stack_name, region, endpoint):
        self.t = template
        self.endpoint = endpoint
        self.stack = stack_name
        self.region = region
        self.params = {}
        for name, spec in template.get("Parameters", {}).items():
            value = parameters.get(name, spec.get("Default"))
            if value is None:
                raise SystemExit(f"parameter {name} needs a value")
            if spec["Type"].startswith("List<") or spec["Type"] == "CommaDelimitedList":
                value = value if isinstance(value, list) else str(value).split(",")
            self.params[name] = value
        self.conditions = {}
        self.physical = {}
        for logical, res in template["Resources"].items():
            self.physical[logical] = self.name_of(logical, res)

    # --------------------------------------------------------- naming
    def name_of(self, logical, res):
        props = res.get("Properties", {})
        kind = res["Type"]
        explicit = NAME_PROPERTY.get(kind)
        if explicit and explicit in props:
            return None  # resolved lazily: may reference other resources
        base = f"{self.stack}-{logical}-{SUFFIX}"
        if kind == "AWS::S3::Bucket":
            return base.lower()
        if kind == "AWS::IAM::Role":
            return base[:64]
        return base

    def name(self, logical):
        if self.physical.get(logical) is None:
            res = self.t["Resources"][logical]
            key = NAME_PROPERTY[res["Type"]]
            self.physical[logical] = self.resolve(res["Properties"][key])
        return self.physical[logical]

    def arn(self, logical):
        kind = self.t["Resources"][logical]["Type"]
        n = self.name(logical)
        r, a = self.region, ACCOUNT
        return {
            "AWS::S3::Bucket": f"arn:aws:s3:::{n}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{r}:{a}:{n}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{r}:{a}:table/{n}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{r}:{a}:function:{n}",
            "AWS::IAM::Role": f"arn:aws:iam::{a}:role/{n}",
            "AWS::IAM::InstanceProfile": f"arn:aws:iam::{a}:instance-profile/{n}",
            "AWS::StepFunctions::StateMachine": f"arn:aws:states:{r}:{a}:stateMachine:{n}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{r}:{a}:log-group:{n}:*",
            "AWS::ECS::Cluster": f"arn:aws:ecs:{r}:{a}:cluster/{n}",
        }.get(kind, f"arn:aws:cloudformation:{r}:{a}:skipped/{n}")

    def queue_url(self, logical):
        return f"{self.endpoint}/{ACCOUNT}/{self.name(logical)}"

    # ---------------------------------------------------- intrinsics
    def ref(self, name):
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": self.stack,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NoValue,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.params:
            return self.params[name]
        kind = self.t["Resources"][name]["Type"]
        if kind == "AWS::SQS::Queue":
            return self.queue_url(name)
        if kind == "AWS::StepFunctions::StateMachine":
            return self.arn(name)
        return self.name(name)

    def get_att(self, logical, attribute):
        kind = self.t["Resources"][logical]["Type"]
        if attribute == "Arn":
            return self.arn(logical)
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return self.name(logical)
        if kind == "AWS::SQS::Queue" and attribute == "QueueUrl":
            return self.queue_url(logical)
        if attribute in ("Name", "QueueName"):
            return self.name(logical)
        return f"{self.name(logical)}.{attribute}"

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.t["Conditions"][name]))
        return self.conditions[name]

    def sub(self, text, variables):
        out, i = "", 0
        while i < len(text):
            if text.startswith("${!", i):
                out += "${"
                i += 3
                continue
            if text.startswith("${", i):
                end = text.index("}", i)
                name = text[i + 2 : end]
                if name in variables:
                    value = variables[name]
                elif "." in name and not name.startswith("AWS::"):
                    value = self.get_att(*name.split(".", 1))
                else:
                    value = self.ref(name)
                out += str(value)
                i = end + 1
                continue
            out += text[i]
            i += 1
        return out

    def resolve(self, node):
        if isinstance(node, list):
            items = [self.resolve(n) for n in node]
            return [i for i in items if i is not NoValue]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, arg), = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical, attribute)
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    variables = {k: self.resolve(v) for k, v in arg[1].items()}
                    return self.sub(arg[0], variables)
                return self.sub(arg, {})
            if key == "Fn::Join":
                return arg[0].join(str(x) for x in self.resolve(arg[1]))
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                a, b = self.resolve(arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return self.resolve(arg[1]).split(arg[0])
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Base64":
                return self.resolve(arg)
        out = {}
        for k, v in node.items():
            r = self.resolve(v)
            if r is not NoValue:
                out[k] = r
        return out


def sam_transform(region, parameters):
    with open(os.path.join(ROOT, "infra/template.yaml"), encoding="utf-8") as f:
        template = yaml_parse(f.read())
    for res in template["Resources"].values():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            path = os.path.join(ROOT, "infra", props.pop("DefinitionUri"))
            with open(path, encoding="utf-8") as f:
                props["Definition"] = json.load(f)
        if res["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://packaged-by-sam/functions.zip"
        if res["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://packaged-by-sam/layer.zip"

    class NoManagedPolicyNames:
        # The template attaches managed policies by ARN only.
        def load(self):
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", region)
    return transform(template, parameters, NoManagedPolicyNames())


def lambda_invokes_as_callbacks(states, queue_url, adapted):
    for name, state in states.items():
        inner = state.get("ItemProcessor", {}).get("States")
        if inner:
            lambda_invokes_as_callbacks(inner, queue_url, adapted)
        if state.get("Resource") != "arn:aws:states:::lambda:invoke":
            continue
        params = state["Parameters"]
        adapted.append({"state": name, "function": params["FunctionName"]})
        state["Resource"] = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
        state["Parameters"] = {
            "QueueUrl": queue_url,
            "MessageBody": {
                "TaskToken.$": "$$.Task.Token",
                "function": params["FunctionName"],
                "Payload": params["Payload"],
            },
        }


def role_policies(iam, role_name):
    docs = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        docs.append(json.dumps(iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]))
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
        docs.append(json.dumps(version["PolicyVersion"]["Document"]))
    return docs


def main():
    endpoint = sys.argv[1]
    stack_name, region, overrides = samconfig()
    parameters = dict(overrides)
    for pair in sys.argv[2:]:
        name, _, value = pair.partition("=")
        parameters[name] = value
    out_template = sam_transform(region, parameters)
    stack = Stack(out_template, parameters, stack_name, region, endpoint)

    # moto's Step Functions return canned results unless told to interpret
    # the definition (not an AWS call: no credentials).
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(
        f"{endpoint}/moto-api/config",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )).read()

    # The three unauthenticated calls: a deployer with administrator rights.
    anon = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id="x", aws_secret_access_key="x")
    iam = boto3.client("iam", **anon)
    iam.create_user(UserName="deployer")
    iam.put_user_policy(
        UserName="deployer",
        PolicyName="administrator",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    )
    key = iam.create_access_key(UserName="deployer")["AccessKey"]
    session = boto3.session.Session(
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=region
    )

    def client(service):
        return session.client(service, endpoint_url=endpoint)

    iam, s3, sqs, ddb, sfn, logs, sts = (
        client(s) for s in ("iam", "s3", "sqs", "dynamodb", "stepfunctions", "logs", "sts")
    )

    resources = out_template["Resources"]
    created, skipped, adaptations = {}, [], []

    def of_type(kind):
        return [(l, r) for l, r in resources.items() if r["Type"] == kind]

    # Queues: dead-letter queues first (redrive policies name them).
    queues = of_type("AWS::SQS::Queue")
    queues.sort(key=lambda lr: "RedrivePolicy" in lr[1].get("Properties", {}))
    for logical, res in queues:
        props = stack.resolve(res.get("Properties", {}))
        attributes = {}
        for name in ("VisibilityTimeout", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "DelaySeconds", "MaximumMessageSize"):
            if name in props:
                attributes[name] = str(props[name])
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        if "SqsManagedSseEnabled" in props:
            attributes["SqsManagedSseEnabled"] = str(props["SqsManagedSseEnabled"]).lower()
        sqs.create_queue(QueueName=stack.name(logical), Attributes=attributes)
        created[logical] = stack.queue_url(logical)
    for logical, res in of_type("AWS::SQS::QueuePolicy"):
        props = stack.resolve(res["Properties"])
        for url in props["Queues"]:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
        created[logical] = "queue policy"

    for logical, res in of_type("AWS::DynamoDB::Table"):
        props = stack.resolve(res["Properties"])
        args = {k: props[k] for k in ("TableName", "AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes") if k in props}
        if "SSESpecification" in props:
            args["SSESpecification"] = {"Enabled": props["SSESpecification"]["SSEEnabled"]}
        ddb.create_table(**args)
        if "TimeToLiveSpecification" in props:
            ddb.update_time_to_live(TableName=props["TableName"], TimeToLiveSpecification=props["TimeToLiveSpecification"])
        if "PointInTimeRecoverySpecification" in props:
            ddb.update_continuous_backups(TableName=props["TableName"], PointInTimeRecoverySpecification=props["PointInTimeRecoverySpecification"])
        created[logical] = props["TableName"]

    for logical, res in of_type("AWS::S3::Bucket"):
        props = stack.resolve(res.get("Properties", {}))
        bucket = stack.name(logical)
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
        if "OwnershipControls" in props:
            s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=props["OwnershipControls"])
        if "BucketEncryption" in props:
            s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
                {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"], "BucketKeyEnabled": r.get("BucketKeyEnabled", False)}
                for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]})
        if "CorsConfiguration" in props:
            rules = []
            for rule in props["CorsConfiguration"]["CorsRules"]:
                rule = dict(rule)
                if "MaxAge" in rule:
                    rule["MaxAgeSeconds"] = int(rule.pop("MaxAge"))
                if "Id" in rule:
                    rule["ID"] = rule.pop("Id")
                rules.append(rule)
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
        if "LifecycleConfiguration" in props:
            rules = []
            for rule in props["LifecycleConfiguration"]["Rules"]:
                r = {"ID": rule["Id"], "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
                if "ExpirationInDays" in rule:
                    r["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
                if "AbortIncompleteMultipartUpload" in rule:
                    r["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
                rules.append(r)
            s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
        if "NotificationConfiguration" in props:
            configs = []
            for q in props["NotificationConfiguration"].get("QueueConfigurations", []):
                c = {"QueueArn": q["Queue"], "Events": [q["Event"]]}
                rules = q.get("Filter", {}).get("S3Key", {}).get("Rules")
                if rules:
                    c["Filter"] = {"Key": {"FilterRules": rules}}
                configs.append(c)
            s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configs})
        created[logical] = bucket
    for logical, res in of_type("AWS::S3::BucketPolicy"):
        # moto does not evaluate bucket policies for IAM principals; stored so
        # the deployed bucket carries it.
        props = stack.resolve(res["Properties"])
        s3.put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))
        created[logical] = "bucket policy (stored; moto does not evaluate it)"

    for logical, res in of_type("AWS::Logs::LogGroup"):
        props = stack.resolve(res.get("Properties", {}))
        name = props.get("LogGroupName", stack.name(logical))
        logs.create_log_group(logGroupName=name)
        if "RetentionInDays" in props:
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        created[logical] = name

    roles = {}
    for logical, res in of_type("AWS::IAM::Role"):
        props = stack.resolve(res["Properties"])
        name = stack.name(logical)
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]))
        for policy in props.get("Policies", []):
            # SAM's policy templates carry no Version; IAM reads that as
            # 2008-10-17 and accepts it, moto refuses it. None of the
            # template's policies use policy variables, so the two read alike.
            document = {"Version": "2012-10-17", **policy["PolicyDocument"]}
            iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(document))
        for arn in props.get("ManagedPolicyArns", []):
            iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        roles[logical] = {"name": name, "arn": stack.arn(logical), "trust": props["AssumeRolePolicyDocument"]}
        created[logical] = name

    def trusted_service(role):
        services = []
        for s in role["trust"]["Statement"]:
            p = s.get("Principal", {}).get("Service", [])
            services += p if isinstance(p, list) else [p]
        return services

    def assume(role_logical, service):
        role = roles[role_logical]
        if service not in trusted_service(role):
            raise SystemExit(f"role {role_logical} does not trust {service}: {role['trust']}")
        c = sts.assume_role(RoleArn=role["arn"], RoleSessionName=role_logical[:64], DurationSeconds=3600)["Credentials"]
        return {"access_key_id": c["AccessKeyId"], "secret_access_key": c["SecretAccessKey"], "session_token": c["SessionToken"]}

    # The harness queue that plays Lambda for the state machine (see the module comment).
    invocations_url = sqs.create_queue(QueueName=f"{stack_name}-harness-lambda-invocations")["QueueUrl"]

    functions = {}
    for logical, res in of_type("AWS::Lambda::Function"):
        props = stack.resolve(res["Properties"])
        role_logical = res["Properties"]["Role"]["Fn::GetAtt"][0]
        functions[logical] = {
            "binary": res.get("Metadata", {}).get("BuildProperties", {}).get("Binary"),
            "name": stack.name(logical),
            "arn": stack.arn(logical),
            "role": roles[role_logical]["arn"],
            "env": {k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()},
            "timeout_seconds": props.get("Timeout", 3),
            "memory_mb": props.get("MemorySize", 128),
            "architectures": props.get("Architectures", ["x86_64"]),
            "reserved_concurrency": props.get("ReservedConcurrentExecutions"),
            "layers": [l["Ref"] for l in res["Properties"].get("Layers", [])],
            "credentials": assume(role_logical, LAMBDA_SERVICE),
        }
        skipped.append({"resource": logical, "type": res["Type"], "why": "runs as its shipped binary behind the harness's Lambda runtime API"})

    for logical, res in of_type("AWS::ECS::TaskDefinition"):
        props = stack.resolve(res["Properties"])
        role_logical = res["Properties"]["TaskRoleArn"]["Fn::GetAtt"][0]
        container = props["ContainerDefinitions"][0]
        functions[logical] = {
            "binary": "render-worker",
            "name": container["Name"],
            "role": roles[role_logical]["arn"],
            "env": {e["Name"]: str(e["Value"]) for e in container.get("Environment", [])},
            "stop_timeout_seconds": container.get("StopTimeout"),
            "credentials": assume(role_logical, "ecs-tasks.amazonaws.com"),
        }
        skipped.append({"resource": logical, "type": res["Type"], "why": "runs as the render-worker binary with the task role"})

    for logical, res in of_type("AWS::Lambda::LayerVersion"):
        skipped.append({"resource": logical, "type": res["Type"], "why": "the harness mounts the layer's content (scripts/package-models) at the function's /opt"})

    event_sources = []
    for logical, res in of_type("AWS::Lambda::EventSourceMapping"):
        props = stack.resolve(res["Properties"])
        function = next(f for f, v in functions.items() if v["name"] == props["FunctionName"])
        queue = next(q for q, _ in queues if stack.arn(q) == props["EventSourceArn"])
        event_sources.append({
            "function": function,
            "queue_arn": props["EventSourceArn"],
            "queue_url": stack.queue_url(queue),
            "batch_size": props.get("BatchSize", 10),
            "report_batch_item_failures": "ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
        })
        skipped.append({"resource": logical, "type": res["Type"], "why": "the harness polls the queue as Lambda's event source does"})

    http_apis = []
    for logical, res in of_type("AWS::ApiGatewayV2::Api"):
        props = stack.resolve(res["Properties"])
        http_apis.append({"api": logical, "cors": props.get("CorsConfiguration")})
        skipped.append({"resource": logical, "type": res["Type"], "why": "the harness sends API Gateway v2 events to the API function"})

    for logical, res in of_type("AWS::StepFunctions::StateMachine"):
        props = stack.resolve(res["Properties"])
        definition = props["DefinitionString"] if "DefinitionString" in props else json.dumps(props["Definition"])
        for name, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + name + "}", str(value))
        if "${" in definition:
            raise SystemExit("a DefinitionSubstitution is missing from the template")
        deployed = json.loads(definition)
        adapted = []
        lambda_invokes_as_callbacks(deployed["States"], invocations_url, adapted)
        # The role must be able to do, on AWS, what the harness does for it.
        sm_role = next(r for r in roles.values() if r["arn"] == props["RoleArn"])
        if "states.amazonaws.com" not in trusted_service(sm_role):
            raise SystemExit("the state machine role does not trust states.amazonaws.com")
        policies = role_policies(iam, sm_role["name"])
        denied = [a["function"] for a in adapted if not decide(policies, "lambda:InvokeFunction", a["function"], {})]
        send_targets = [s["Parameters"]["QueueUrl"] for s in walk_states(json.loads(definition)["States"]) if s.get("Resource", "").startswith("arn:aws:states:::sqs:sendMessage")]
        for url in send_targets:
            queue_arn = next(stack.arn(q) for q, _ in queues if stack.queue_url(q) == url)
            if not decide(policies, "sqs:SendMessage", queue_arn, {}):
                denied.append(f"sqs:SendMessage {queue_arn}")
        if denied:
            raise SystemExit(f"the state machine role {sm_role['name']} may not: {denied}")
        arn = sfn.create_state_machine(
            name=props["StateMachineName"],
            definition=json.dumps(deployed),
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        assert arn == stack.arn(logical), (arn, stack.arn(logical))
        created[logical] = arn
        adaptations.append({
            "resource": logical,
            "change": "lambda:invoke states deployed as SQS callbacks on the harness queue",
            "states": adapted,
            "checked": "the role may lambda:InvokeFunction each function and sqs:SendMessage each queue it sends to",
        })

    handled = set(created) | {s["resource"] for s in skipped}
    for logical, res in resources.items():
        if logical not in handled:
            skipped.append({"resource": logical, "type": res["Type"], "why": "moto cannot run it here"})

    outputs = {}
    for name, spec in out_template.get("Outputs", {}).items():
        try:
            outputs[name] = stack.resolve(spec["Value"])
        except (KeyError, ValueError):
            outputs[name] = None

    json.dump({
        "stack": stack_name,
        "region": region,
        "account": ACCOUNT,
        "parameters": {k: v for k, v in stack.params.items()},
        "created": created,
        "functions": functions,
        "event_sources": event_sources,
        "http_apis": http_apis,
        "lambda_invocations_queue_url": invocations_url,
        "adaptations": adaptations,
        "skipped": skipped,
        "outputs": outputs,
        "deployer": {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]},
    }, sys.stdout, indent=1, default=str)


def walk_states(states):
    for state in states.values():
        yield state
        inner = state.get("ItemProcessor", {}).get("States")
        if inner:
            yield from walk_states(inner)


if __name__ == "__main__":
    main()
