"""template.yaml as CloudFormation would deploy it: SAM-transformed for a set of parameter values,
conditions evaluated, intrinsic functions resolved with stand-in values. Shared by
scripts/template_test.py and scripts/dashboard.py. Needs cfn-lint and aws-sam-translator."""

import copy
import logging
import os
import pathlib
import re

from cfnlint.decode import decode
from samtranslator.translator.transform import transform

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
# Stand-ins for what only a deployed stack knows.
PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "logs",
    "AWS::NoValue": None,
}


# The translator logs its own feature flags and usage metrics; nothing a reader needs.
logging.getLogger("samtranslator").setLevel(logging.ERROR)


class _NoManagedPolicies:
    def load(self):
        return {}


class Stack:
    """The resources, outputs and parameter values of one deployment of template.yaml."""

    def __init__(self, **parameters):
        os.environ.setdefault("AWS_DEFAULT_REGION", PSEUDO["AWS::Region"])
        template, matches = decode(str(TEMPLATE))
        if matches:
            raise SystemExit(f"template.yaml does not parse: {matches}")
        template = copy.deepcopy(template)
        # The translator wants an uploaded artifact where `sam build` would put one.
        template["Resources"]["UpdateLogByRefFunction"]["Properties"]["CodeUri"] = "s3://bucket/key"
        translated = transform(template, dict(parameters), _NoManagedPolicies())
        self.parameters = {
            name: str(spec.get("Default", "")) for name, spec in translated["Parameters"].items()
        }
        self.parameters.update(parameters)
        self.conditions = translated.get("Conditions", {})
        self.mappings = translated.get("Mappings", {})
        self.resources = {
            name: resource
            for name, resource in translated["Resources"].items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }
        self.outputs = translated.get("Outputs", {})

    def condition(self, name):
        return self._truth(self.conditions[name])

    def _truth(self, expr):
        (fn, args), = expr.items()
        if fn == "Fn::Equals":
            left, right = (self.resolve(a) for a in args)
            return str(left) == str(right)
        if fn == "Fn::Not":
            return not self._truth(args[0])
        if fn == "Fn::And":
            return all(self._truth(a) for a in args)
        if fn == "Fn::Or":
            return any(self._truth(a) for a in args)
        if fn == "Condition":
            return self.condition(args)
        raise ValueError(f"condition function {fn}")

    def of_type(self, kind):
        return {n: r for n, r in self.resources.items() if r["Type"] == kind}

    def resolve(self, value):
        """`value` with every intrinsic function applied: a resource's Ref is its logical id, its
        Arn `arn:<id>`; parameters take their values, pseudo parameters the stand-ins above."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, args), = value.items()
            if fn == "Ref":
                return self._ref(args)
            if fn == "Fn::GetAtt":
                resource, attribute = args if isinstance(args, list) else args.split(".", 1)
                return self._getatt(resource, attribute)
            if fn == "Fn::If":
                chosen = args[1] if self.condition(args[0]) else args[2]
                return self.resolve(chosen)
            if fn == "Fn::Sub":
                text, variables = (args, {}) if isinstance(args, str) else args
                variables = {k: self.resolve(v) for k, v in variables.items()}
                return re.sub(r"\$\{([^}!]+)\}", lambda m: str(self._sub(m.group(1), variables)), text)
            if fn == "Fn::Join":
                return args[0].join(str(v) for v in self.resolve(args[1]))
            if fn == "Fn::FindInMap":
                mapping, top, second = (self.resolve(a) for a in args)
                return self.mappings[mapping][top][second]
        return {k: self.resolve(v) for k, v in value.items()}

    def _sub(self, name, variables):
        if name in variables:
            return variables[name]
        if "." in name:
            return self._getatt(*name.split(".", 1))
        return self._ref(name)

    def _ref(self, name):
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return name
        raise KeyError(f"Ref to {name}, which this stack does not have")

    def _getatt(self, resource, attribute):
        if resource not in self.resources:
            raise KeyError(f"GetAtt {resource}.{attribute}, which this stack does not have")
        return f"{attribute.lower()}:{resource}"


def emitted_metrics():
    """The namespace, dimension and metric names src/metrics.rs emits (its METRICS table)."""
    source = (ROOT / "src" / "metrics.rs").read_text()
    consts = dict(re.findall(r'pub const (\w+): &str = "([^"]+)";', source))
    table = re.search(r"pub const METRICS: \[\(&str, Unit\); \d+\] = \[(.*?)\];", source, re.S)
    names = {consts[ident] for ident in re.findall(r"\((\w+), Unit::\w+\)", table.group(1))}
    return consts["DEFAULT_NAMESPACE"], consts["DIMENSION"], names
