"""The benchmark's peer: what a team would write instead of update-log-by-ref.

A plain Python Lambda handler on boto3's DynamoDB client, run by `awslambdaric` against the
benchmark's Runtime API emulator and the same tables: the API key is looked up once per instance
(`GetItem` on the key's SHA-256), then one conditional `UpdateItem ... ReturnValues=ALL_NEW` per
request, and the log comes back as JSON. Only the happy path and the common errors: it is a
yardstick, not a second implementation of the contract.
"""

import base64
import hashlib
import json
import os
from datetime import datetime, timezone
from decimal import Decimal

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.config import Config

LOGS_TABLE = os.environ.get("LOGS_TABLE_NAME", "logs")
API_KEYS_TABLE = os.environ.get("API_KEYS_TABLE_NAME", "api_keys")

# The same bounds the Rust function sets: 1 s to connect, 0.8 s per attempt, 3 attempts.
dynamodb = boto3.client(
    "dynamodb",
    config=Config(
        connect_timeout=1,
        read_timeout=0.8,
        retries={"mode": "standard", "max_attempts": 3},
    ),
)
deserializer = TypeDeserializer()

# The LogResponse fields, in the spec's order; a missing one is null.
LOG_FIELDS = (
    "project project_id session_id session_reference_id parent_id parent_reference_id inputs "
    "source metadata save source_datapoint_id id reference_id messages output judgment "
    "config_id config environment feedback created_at error stdout duration output_message "
    "prompt_tokens output_tokens prompt_cost output_cost provider_request provider_response "
    "user provider_latency tokens raw_output finish_reason tools tool_choice evaluation_results "
    "observability_status updated_at batch_ids"
).split()

# Organization of each key hash seen by this instance.
organizations = {}


def log_key(organization, reference_id):
    """The logs table's key for a log: its organization and reference id."""
    return {"log_key": {"S": f"{organization}#{reference_id}"}}


def handler(event, context):
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    api_key = headers.get("x-api-key")
    if not api_key:
        return respond(401, {"detail": "Missing API key: send it in the X-API-KEY header."})
    organization = organization_of(hashlib.sha256(api_key.encode()).hexdigest())
    if organization is None:
        return respond(401, {"detail": "Invalid API key."})

    reference_id = (event.get("queryStringParameters") or {}).get("reference_id")
    if not reference_id:
        return respond(422, {"detail": "reference_id is required"})
    body = event.get("body") or "{}"
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body)
    try:
        patch = json.loads(body, parse_float=Decimal)
    except ValueError as e:
        return respond(422, {"detail": f"JSON decode error: {e}"})

    names = {"#version": "version", "#org": "organization_id", "#updated_at": "updated_at"}
    values = {
        ":org": {"S": organization},
        ":zero": {"N": "0"},
        ":one": {"N": "1"},
        ":updated_at": {"S": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
    }
    sets = ["#updated_at = :updated_at", "#version = if_not_exists(#version, :zero) + :one"]
    removes = []
    for field in ("output", "error", "duration"):
        if field not in patch:
            continue
        names[f"#{field}"] = field
        if patch[field] is None:
            removes.append(f"#{field}")
        elif field == "duration":
            values[f":{field}"] = {"N": str(patch[field])}
            sets.append(f"#{field} = :{field}")
        else:
            values[f":{field}"] = {"S": str(patch[field])}
            sets.append(f"#{field} = :{field}")
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")

    try:
        out = dynamodb.update_item(
            TableName=LOGS_TABLE,
            Key=log_key(organization, reference_id),
            UpdateExpression=expression,
            # A missing item has no organization: this also says "the log exists".
            ConditionExpression="#org = :org",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return respond(404, {"detail": "No log with this reference_id."})
    item = {k: deserializer.deserialize(v) for k, v in out["Attributes"].items()}
    log = {field: item.get(field) for field in LOG_FIELDS}
    return respond(200, log, etag=f'"{item.get("version")}"')


def organization_of(key_hash):
    if key_hash not in organizations:
        found = dynamodb.get_item(
            TableName=API_KEYS_TABLE,
            Key={"key_hash": {"S": key_hash}},
            ProjectionExpression="#org, #revoked",
            ExpressionAttributeNames={"#org": "organization_id", "#revoked": "revoked"},
        ).get("Item", {})
        revoked = found.get("revoked", {}).get("BOOL", False)
        organizations[key_hash] = None if revoked else found.get("organization_id", {}).get("S")
    return organizations[key_hash]


def respond(status, body, etag=None):
    headers = {"content-type": "application/json"}
    if etag:
        headers["etag"] = etag
    return {"statusCode": status, "headers": headers, "body": json.dumps(body, default=number)}


def number(value):
    """DynamoDB numbers come back as Decimal: integers as int, the rest as float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
