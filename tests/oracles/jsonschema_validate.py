"""Validates JSON texts against a JSON schema with the python-jsonschema package (Debian python3-jsonschema).

stdin, JSON lines: the first line is the schema; every further line is one output, given as a JSON string holding the
output's text. stdout: one JSON line per output, {"ok": true} or {"ok": false, "error": "..."}, where an error is a
json.loads failure or the validator's first error. The schema itself is checked against its metaschema first.
"""
import json
import sys

import jsonschema


def main():
    lines = sys.stdin.read().split("\n")
    schema = json.loads(lines[0])
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)
    out = []
    for line in lines[1:]:
        if line == "":
            continue
        text = json.loads(line)
        try:
            value = json.loads(text)
        except ValueError as e:
            out.append({"ok": False, "error": "not JSON: " + str(e)})
            continue
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
        if errors:
            out.append({"ok": False, "error": errors[0].message + " at " + "/".join(map(str, errors[0].path))})
        else:
            out.append({"ok": True})
    sys.stdout.write("\n".join(json.dumps(o) for o in out) + "\n")


if __name__ == "__main__":
    main()
