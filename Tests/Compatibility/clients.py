"""Describer as third-party clients see it.

    clients.py deepstack HOST PORT IMAGE LABEL
        Home Assistant's DeepStack client (PyPI deepstack-python) detects
        objects in IMAGE through Describer's DeepStack API; LABEL must be
        among the predictions.
    clients.py webhooks CAPTURED_JSON SECRET
        The Standard Webhooks reference library (PyPI standardwebhooks)
        verifies every delivery Describer made: a JSON list of
        {"headers": {...}, "body_base64": "..."}.

Prints one JSON line with what it saw; exits 1 with the reason otherwise.
The packages come from Tests/Compatibility/requirements.txt, which
scripts/setup installs into .cache/python.
"""
import base64
import json
import sys


def deepstack(host, port, image, label):
    from deepstack.core import DeepstackObject

    client = DeepstackObject(ip=host, port=int(port), timeout=60, min_confidence=0.3)
    with open(image, "rb") as file:
        predictions = client.detect(file.read())
    labels = sorted({p["label"] for p in predictions})
    for p in predictions:
        for key in ("x_min", "y_min", "x_max", "y_max"):
            if not isinstance(p[key], int):
                raise SystemExit(f"{key} is not an integer: {p}")
    if label not in labels:
        raise SystemExit(f"{label} not among {labels}")
    print(json.dumps({"labels": labels, "predictions": len(predictions)}))


def webhooks(captured, secret):
    from standardwebhooks.webhooks import Webhook

    with open(captured) as file:
        deliveries = json.load(file)
    if not deliveries:
        raise SystemExit("no deliveries to verify")
    verifier = Webhook(secret)
    types = []
    for delivery in deliveries:
        payload = verifier.verify(base64.b64decode(delivery["body_base64"]), delivery["headers"])
        types.append(payload["type"])
    print(json.dumps({"verified": len(deliveries), "types": types}))


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    {"deepstack": deepstack, "webhooks": webhooks}[command](*arguments)
