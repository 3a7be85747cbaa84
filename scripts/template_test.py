"""Tests of template.yaml for each ApiType, on the SAM-transformed template with its conditions
applied: both fronts route /logs and /v4/logs, any method, to the function, with an invoke
permission, a throttled stage and the same outputs; every alarm notifies the topic; the alarms and
the dashboard cover what docs/operations.md promises and name only metrics the function emits; the tables'
keys are the storage contract's.
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


def main():
    check_storage_contract(Stack(ApiType="HTTP", AlarmEmail=""))
    for api_type in API_TYPES:
        for email in ("", "ops@example.com"):
            stack = Stack(ApiType=api_type, AlarmEmail=email)
            api = check_front(stack, api_type)
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
