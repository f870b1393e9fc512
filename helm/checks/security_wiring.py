"""Checks that the chart gives the tracker exactly the SASL_SSL settings tests/security.rs runs it
with: the same pass-through properties (SMS_TRACKER_KAFKA_PROPERTIES, with ssl.ca.location
pointing at the mounted CA certificate), the SASL login in SMS_TRACKER_SASL_USERNAME and
SMS_TRACKER_SASL_PASSWORD from the Secret, and the CA Secret mounted read-only.

Usage: security_wiring.py RENDERED.yaml VALUES.yaml tests/security.rs
"""

import re
import sys

import yaml


def main(rendered_path, values_path, test_path):
    values = yaml.safe_load(open(values_path))["kafka"]
    test = open(test_path).read()
    match = re.search(r'const TRACKER_PROPERTIES: &str = "([^"]*)";', test)
    assert match, "tests/security.rs has no TRACKER_PROPERTIES"
    for name in ("SMS_TRACKER_SASL_USERNAME", "SMS_TRACKER_SASL_PASSWORD", "ssl.ca.location={ca}"):
        assert name in test, f"tests/security.rs does not use {name}"

    docs = [d for d in yaml.safe_load_all(open(rendered_path)) if d and d.get("kind") == "StatefulSet"]
    assert len(docs) == 1, "one StatefulSet"
    pod = docs[0]["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "sms-tracker")
    env = {e["name"]: e for e in container["env"]}

    mount = next(m for m in container["volumeMounts"] if m["name"] == "kafka-ca")
    assert mount.get("readOnly") is True, "the CA is mounted read-only"
    volume = next(v for v in pod["volumes"] if v["name"] == "kafka-ca")
    ca = values["caSecret"]
    assert volume["secret"]["secretName"] == ca["name"], "the CA volume is the caSecret"
    items = volume["secret"]["items"]
    assert [i["key"] for i in items] == [ca["key"]], "only the CA key is mounted"
    ca_file = f"{mount['mountPath']}/{items[0]['path']}"

    expected = f"{match.group(1)},ssl.ca.location={ca_file}"
    rendered = env["SMS_TRACKER_KAFKA_PROPERTIES"]["value"]
    assert rendered == expected, f"SMS_TRACKER_KAFKA_PROPERTIES is {rendered!r}, the test runs with {expected!r}"

    login = values["existingSecret"]
    for variable, key in (("SMS_TRACKER_SASL_USERNAME", "usernameKey"), ("SMS_TRACKER_SASL_PASSWORD", "passwordKey")):
        ref = env[variable]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": login["name"], "key": login[key]}, f"{variable} comes from {ref}"
        assert "value" not in env[variable], f"{variable} has no literal value"
    print(f"{expected} ; SASL login from Secret {login['name']} ; CA {ca_file} from Secret {ca['name']}")


if __name__ == "__main__":
    try:
        main(*sys.argv[1:])
    except (AssertionError, KeyError, StopIteration) as error:
        print(f"security wiring: {error!r}", file=sys.stderr)
        sys.exit(1)
