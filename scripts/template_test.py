"""Tests of template.yaml for each ApiType, on the SAM-transformed template with its conditions
applied: both fronts route /logs and /v4/logs, any method, to the function, with an invoke
permission, a throttled stage and the same outputs; every alarm notifies the topic; the alarms and
the dashboard cover what docs/operations.md promises and name only metrics the function emits; the
tables' keys are the storage contract's, with TTL on expires_at; both fronts write one JSON access
log line per request, with no header, query or body; KmsKeyArn encrypts the tables, the log groups
and the alarm topic (never with aws/sns) and only then gives the role the key; ReservedConcurrency
bounds the function (0: no reservation).
Run: python scripts/template_test.py (scripts/sam-check.sh does)."""

import json
import sys

from cfn import Stack, emitted_metrics

NAMESPACE, DIMENSION, EMITTED = emitted_metrics()
FUNCTION = "UpdateLogByRefFunction"
API_TYPES = {
    # ApiType: (API resource type, its 5xx metric, the dimension naming the API)
    "HTTP": ("AWS::ApiGatewayV2::Api", "5xx", "ApiId"),
    "REST": ("AWS::ApiGateway::RestApi", "5XXError", "ApiName"),
}


def check_front(stack, api_type):
    kind, _, _ = API_TYPES[api_type]
    apis = {n: r for n, r in stack.resources.items() if r["Type"] in {k for k, _, _ in API_TYPES.values()}}
    assert list(r["Type"] for r in apis.values()) == [kind], f"{api_type}: APIs {apis.keys()}"
    (api, resource), = apis.items()
    body = stack.resolve(resource["Properties"]["Body"])
    for path in ("/logs", "/v4/logs"):
        methods = body["paths"].get(path, {})
        assert list(methods) == ["x-amazon-apigateway-any-method"], f"{api_type} {path}: {list(methods)}"
        integration = methods["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy", integration
        assert f"arn:{FUNCTION}" in integration["uri"], f"{api_type} {path} goes to {integration['uri']}"

    permissions = [
        stack.resolve(p["Properties"]) for p in stack.of_type("AWS::Lambda::Permission").values()
    ]
    assert any(
        p["FunctionName"] == FUNCTION
        and p["Principal"] == "apigateway.amazonaws.com"
        and f":{api}/" in p["SourceArn"]
        for p in permissions
    ), f"{api_type}: no permission for {api} to invoke the function: {permissions}"

    stage_kind = "AWS::ApiGatewayV2::Stage" if api_type == "HTTP" else "AWS::ApiGateway::Stage"
    stages = [stack.resolve(s["Properties"]) for s in stack.of_type(stage_kind).values()]
    assert [s["StageName"] for s in stages] == [stack.parameters["StageName"]], stages
    throttling = stages[0].get("DefaultRouteSettings") or stages[0]["MethodSettings"][0]
    assert throttling["ThrottlingRateLimit"] == stack.parameters["ThrottlingRateLimit"], throttling
    assert throttling["ThrottlingBurstLimit"] == stack.parameters["ThrottlingBurstLimit"], throttling

    base = f"https://{api}.execute-api.us-east-1.amazonaws.com/{stack.parameters['StageName']}"
    assert stack.resolve(stack.outputs["ApiBaseUrl"]["Value"]) == base
    assert stack.resolve(stack.outputs["V4BaseUrl"]["Value"]) == base + "/v4"
    return api


def alarm_metrics(alarm):
    """(namespace, name, dimensions, statistic) of each metric an alarm watches."""
    if "MetricName" in alarm:
        stat = alarm.get("ExtendedStatistic") or alarm.get("Statistic")
        yield alarm["Namespace"], alarm["MetricName"], dims(alarm.get("Dimensions", [])), stat
    for query in alarm.get("Metrics", []):
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            yield metric["Namespace"], metric["MetricName"], dims(metric.get("Dimensions", [])), query[
                "MetricStat"
            ]["Stat"]


def dims(dimensions):
    return {d["Name"]: d["Value"] for d in dimensions}


def check_alarms(stack, api_type, api):
    _, api_5xx, api_dimension = API_TYPES[api_type]
    alarms = {n: stack.resolve(a["Properties"]) for n, a in stack.of_type("AWS::CloudWatch::Alarm").items()}
    watched = set()
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == ["AlarmTopic"], f"{name} notifies {alarm['AlarmActions']}"
        assert alarm["OKActions"] == ["AlarmTopic"], f"{name} clears to {alarm['OKActions']}"
        assert alarm.get("TreatMissingData") == "notBreaching", name
        for namespace, metric, dimensions, stat in alarm_metrics(alarm):
            if namespace == NAMESPACE:
                assert metric in EMITTED, f"{name}: {metric} is not emitted by the function"
                assert dimensions == {DIMENSION: FUNCTION}, f"{name}: {dimensions}"
            if namespace == "AWS/Lambda":
                assert dimensions == {"FunctionName": FUNCTION}, f"{name}: {dimensions}"
            if namespace == "AWS/ApiGateway":
                want = api if api_type == "HTTP" else "logs-api"
                assert dimensions == {api_dimension: want, "Stage": "prod"}, f"{name}: {dimensions}"
            watched.add((namespace, metric, stat))
    for required in [
        ("AWS/Lambda", "Errors", "Sum"),
        ("AWS/Lambda", "Throttles", "Sum"),
        ("AWS/ApiGateway", api_5xx, "Sum"),
        (NAMESPACE, "Latency", "p99"),
        (NAMESPACE, "ServerError", "Sum"),
        (NAMESPACE, "DynamoDbThrottled", "Sum"),
    ]:
        assert required in watched, f"{api_type}: no alarm on {required}; alarms watch {sorted(watched)}"
    topics = stack.of_type("AWS::SNS::Topic")
    assert list(topics) == ["AlarmTopic"], topics
    return alarms


def dashboard_widgets(stack):
    (dashboard,) = stack.of_type("AWS::CloudWatch::Dashboard").values()
    return json.loads(stack.resolve(dashboard["Properties"]["DashboardBody"]))["widgets"]


def check_dashboard(stack, api_type, api, alarms):
    _, api_5xx, _ = API_TYPES[api_type]
    shown = set()
    for widget in dashboard_widgets(stack):
        if widget["type"] == "alarm":
            listed = {arn.removeprefix("arn:") for arn in widget["properties"]["alarms"]}
            assert listed == set(alarms), f"alarm widget lists {listed}, the stack has {set(alarms)}"
            continue
        for row in widget["properties"]["metrics"]:
            namespace, metric, *rest = row
            options = rest.pop() if rest and isinstance(rest[-1], dict) else {}
            dimensions = dict(zip(rest[::2], rest[1::2]))
            if namespace == NAMESPACE:
                assert metric in EMITTED, f"dashboard: {metric} is not emitted by the function"
                assert dimensions == {DIMENSION: FUNCTION}, dimensions
            if namespace == "AWS/ApiGateway":
                assert api in dimensions.values() or api_type == "REST", dimensions
            shown.add((namespace, metric, options.get("stat"), dimensions.get("TableName")))
    required = [(NAMESPACE, m, "Sum", None) for m in ("Updated", "ClientError", "ServerError")]
    required += [(NAMESPACE, "Latency", p, None) for p in ("p50", "p99")]
    required += [("AWS/ApiGateway", m, "Sum", None) for m in ("Count", api_5xx)]
    required += [
        ("AWS/DynamoDB", f"Consumed{kind}CapacityUnits", "Sum", table)
        for kind in ("Read", "Write")
        for table in ("LogsTable", "ApiKeysTable")
    ]
    required += [(NAMESPACE, "DynamoDbThrottled", "Sum", None), ("AWS/Lambda", "Throttles", "Sum", None)]
    for metric in required:
        assert metric in shown, f"{api_type}: the dashboard lacks {metric}"


def check_storage_contract(stack):
    """The tables' keys are docs/storage-contract.md's: the logs table's partition key is
    log_key (organization first), the API keys table's key_hash; both strings, no sort key."""
    for table, key in (("LogsTable", "log_key"), ("ApiKeysTable", "key_hash")):
        props = stack.resources[table]["Properties"]
        assert props["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}], f"{table}: {props['KeySchema']}"
        assert props["AttributeDefinitions"] == [{"AttributeName": key, "AttributeType": "S"}], table


ACCESS_LOG_FIELDS = {
    # what a reviewer needs from each request's line: the variable each field must carry
    "requestId": "$context.requestId",
    "sourceIp": "$context.identity.sourceIp",
    "method": "$context.httpMethod",
    "path": "$context.path",
    "status": "$context.status",
    "latencyMs": "$context.responseLatency",
    "integrationError": "$context.integrationErrorMessage",
}


def check_access_log(stack, api_type):
    """The stage writes one JSON line per request into the access log group, which has a retention;
    the line holds the fields above and no header, query string, body or caller identity token."""
    stage_kind = "AWS::ApiGatewayV2::Stage" if api_type == "HTTP" else "AWS::ApiGateway::Stage"
    (stage,) = [stack.resolve(s["Properties"]) for s in stack.of_type(stage_kind).values()]
    setting = stage.get("AccessLogSettings") or stage.get("AccessLogSetting")
    assert setting, f"{api_type}: the stage has no access log: {stage}"
    assert setting["DestinationArn"] == "arn:AccessLogGroup", setting
    line = setting["Format"]
    assert "\n" not in line, f"{api_type}: the access log format spans lines: {line!r}"
    fields = json.loads(line)
    for name, variable in ACCESS_LOG_FIELDS.items():
        assert fields.get(name) == variable, f"{api_type}: access log {name} is {fields.get(name)!r}"
    for value in fields.values():
        assert value.startswith("$context.") and value.count("$") == 1, f"{api_type}: {value!r}"
        assert not any(w in value.lower() for w in ("header", "querystring", "body", "input", "apikey")), value
    group = stack.resolve(stack.resources["AccessLogGroup"]["Properties"])
    assert group["RetentionInDays"] == stack.parameters["LogRetentionDays"], group
    assert stack.resolve(stack.outputs["AccessLogGroupName"]["Value"]) == "AccessLogGroup"


def check_encryption(key):
    """With KmsKeyArn = key (empty: none) for both fronts: what it encrypts, and the role's grant."""
    for api_type in API_TYPES:
        stack = Stack(ApiType=api_type, KmsKeyArn=key)
        want = key or None
        for table in ("LogsTable", "ApiKeysTable"):
            sse = stack.resolve(stack.resources[table]["Properties"]["SSESpecification"])
            assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS", sse
            assert sse.get("KMSMasterKeyId") == want, f"{table}: {sse}"
        for group in ("FunctionLogGroup", "AccessLogGroup"):
            props = stack.resolve(stack.resources[group]["Properties"])
            assert props.get("KmsKeyId") == want, f"{group}: {props}"
        topic = stack.resolve(stack.resources["AlarmTopic"]["Properties"])
        assert topic.get("KmsMasterKeyId") == want, f"AlarmTopic: {topic}"
        # CloudWatch alarms cannot publish to a topic under the AWS managed key.
        assert "alias/aws/sns" not in str(topic.get("KmsMasterKeyId")), topic
        role = stack.resolve(stack.resources[f"{FUNCTION}Role"]["Properties"])
        grants = [
            statement
            for policy in role.get("Policies", [])
            if policy
            for statement in policy["PolicyDocument"]["Statement"]
            if any(str(action).startswith("kms:") for action in statement["Action"])
        ]
        if not key:
            assert not grants, f"no key, yet the role gets KMS: {grants}"
            continue
        (grant,) = grants
        assert grant["Resource"] == key, grant
        assert grant["Condition"] == {"StringEquals": {"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"}}, grant


def check_retention_and_concurrency():
    """The logs table deletes expired logs by TTL on expires_at; ReservedConcurrency is the
    function's reserved concurrency (default 100), and 0 reserves none."""
    ttl = Stack(ApiType="HTTP").resources["LogsTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}, ttl
    for parameters, want in (({}, "100"), ({"ReservedConcurrency": "7"}, "7"), ({"ReservedConcurrency": "0"}, None)):
        stack = Stack(ApiType="HTTP", **parameters)
        got = stack.resolve(stack.resources[FUNCTION]["Properties"]).get("ReservedConcurrentExecutions")
        assert got == want, f"{parameters or 'default'}: reserved concurrency {got!r}, want {want!r}"


def main():
    check_storage_contract(Stack(ApiType="HTTP", AlarmEmail=""))
    check_retention_and_concurrency()
    check_encryption("")
    check_encryption("arn:aws:kms:us-east-1:123456789012:key/0f5e8b2a-1c3d-4e5f-8a9b-0c1d2e3f4a5b")
    for api_type in API_TYPES:
        for email in ("", "ops@example.com"):
            stack = Stack(ApiType=api_type, AlarmEmail=email)
            api = check_front(stack, api_type)
            check_access_log(stack, api_type)
            alarms = check_alarms(stack, api_type, api)
            check_dashboard(stack, api_type, api, alarms)
            subscriptions = [
                stack.resolve(s["Properties"]) for s in stack.of_type("AWS::SNS::Subscription").values()
            ]
            want = [{"TopicArn": "AlarmTopic", "Protocol": "email", "Endpoint": email}] if email else []
            assert subscriptions == want, subscriptions
        print(f"template, ApiType={api_type}: {api} routes /logs and /v4/logs (ANY) to the function; "
              f"{len(alarms)} alarms notify AlarmTopic; the dashboard shows only emitted metrics")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"template test failed: {failure}", file=sys.stderr)
        sys.exit(1)
