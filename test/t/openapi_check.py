#!/usr/bin/python3
"""openapi_check.py DOC OBSERVATIONS — checks answers of a live server against
the OpenAPI document (test/t/018_http_openapi.pl records them).

OBSERVATIONS is a JSON array of {"op": "GET /v1/contacts/{id}", "status": 200,
"headers": {lower-case name: value}, "body": text, "request": text or null,
"name": label}.  For each answer: its status is documented for the operation;
its body is valid JSON of the documented schema (records' fields in the
schema's order) or empty when no content is documented; every required
header is there and every documented header present has a valid value; a
2xx request body is valid for the documented requestBody.  Then every status
documented for every operation must have been observed.

Prints a JSON array of {"name", "ok", "diag", "check"} on stdout: one per
check, for the TAP test to report (it knows which checks belong to features
not merged yet).  Needs python3-jsonschema (Debian), draft 2020-12.
"""
import json
import sys
from collections import OrderedDict

import jsonschema

doc_path, obs_path = sys.argv[1], sys.argv[2]
with open(doc_path, encoding="utf-8") as f:
    doc = json.load(f, object_pairs_hook=OrderedDict)
with open(obs_path, encoding="utf-8") as f:
    observations = json.load(f)

results = []


def report(name, ok, diag="", check="core"):
    results.append({"name": name, "ok": bool(ok), "diag": diag, "check": check})


def resolve(node):
    """Follows a local $ref (one object per component)."""
    while isinstance(node, dict) and "$ref" in node:
        parts = node["$ref"].lstrip("#/").split("/")
        node = doc
        for p in parts:
            node = node[p.replace("~1", "/").replace("~0", "~")]
    return node


def validator(schema):
    # The schema's refs resolve against the whole document: it is the root.
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": doc["components"], "allOf": [schema]}
    return jsonschema.Draft202012Validator(root, format_checker=jsonschema.FormatChecker())


def errors(schema, instance):
    return ["%s at %s" % (e.message, "/".join(str(p) for p in e.absolute_path))
            for e in validator(schema).iter_errors(instance)]


def order_errors(schema, inst, where="$"):
    """Objects' keys must come in the order of their schema's properties."""
    schema = resolve(schema)
    out = []
    if not isinstance(schema, dict):
        return out
    for sub in schema.get("allOf", []):
        out += order_errors(sub, inst, where)
    for key in ("oneOf", "anyOf"):
        for sub in schema.get(key, []):
            s = resolve(sub)
            if isinstance(s, dict) and s.get("type") != "null" and inst is not None:
                out += order_errors(s, inst, where)
    if isinstance(inst, dict) and "properties" in schema:
        props = list(schema["properties"].keys())
        keys = [k for k in inst.keys() if k in props]
        if keys != sorted(keys, key=props.index):
            out.append("%s: fields %s, documented order %s" % (where, keys, props))
        for k, v in inst.items():
            if k in schema["properties"]:
                out += order_errors(schema["properties"][k], v, where + "." + k)
    if isinstance(inst, list) and "items" in schema:
        for i, v in enumerate(inst):
            out += order_errors(schema["items"], v, "%s[%d]" % (where, i))
    return out


def operation(op):
    method, path = op.split(" ", 1)
    item = doc["paths"].get(path)
    if item is None:
        return None, None
    return item.get(method.lower()), item


observed = set()
for o in observations:
    name = "%s: %s -> %s" % (o.get("name", o["op"]), o["op"], o["status"])
    oper, item = operation(o["op"])
    if oper is None:
        report(name, False, "operation not documented")
        continue
    resp = oper["responses"].get(str(o["status"]))
    if resp is None:
        report(name + ": status documented", False,
               "documented: %s" % ", ".join(oper["responses"].keys()))
        continue
    observed.add((o["op"], str(o["status"])))
    resp = resolve(resp)
    headers = o.get("headers", {})
    ct = headers.get("content-type")
    # a 304 describes no representation (RFC 9110 15.4.5): no Content-Type
    want_ct = None if o["status"] == 304 else "application/json; charset=utf-8"
    report(name + ": Content-Type", ct == want_ct, "got %r" % ct)
    # headers
    for hname, h in resp.get("headers", {}).items():
        h = resolve(h)
        value = headers.get(hname.lower())
        check = "header " + hname
        if value is None:
            if h.get("required"):
                report("%s: header %s" % (name, hname), False, "missing", check)
            continue
        errs = errors(h.get("schema", {}), value)
        report("%s: header %s" % (name, hname), not errs, "; ".join(errs) + " value %r" % value, check)
    # body
    body = o.get("body") or ""
    content = resp.get("content")
    if content is None:
        report(name + ": no body", body == "", "body %r" % body[:200])
    else:
        schema = content["application/json"]["schema"]
        try:
            inst = json.loads(body, object_pairs_hook=OrderedDict)
        except ValueError as e:
            report(name + ": body is JSON", False, "%s: %r" % (e, body[:200]))
            continue
        errs = errors(schema, inst)
        report(name + ": body schema", not errs, "; ".join(errs[:5]) + " body: " + body[:300])
        errs = order_errors(schema, inst)
        report(name + ": field order", not errs, "; ".join(errs[:3]))
    # the request body of a success
    if o.get("request") is not None and 200 <= o["status"] < 300 and "requestBody" in oper:
        schema = resolve(oper["requestBody"])["content"]["application/json"]["schema"]
        errs = errors(schema, json.loads(o["request"]))
        report(name + ": request body schema", not errs, "; ".join(errs[:5]))

# every documented status of every operation was seen
for path, item in doc["paths"].items():
    for method, oper in item.items():
        if method == "parameters":
            continue
        for status in oper["responses"]:
            if status == "default":
                continue
            op = "%s %s" % (method.upper(), path)
            report("documented %s -> %s observed" % (op, status), (op, status) in observed,
                   "never provoked", "status %s" % status)

json.dump(results, sys.stdout, indent=1)
