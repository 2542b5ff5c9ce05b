#!/usr/bin/env python3
"""Run the conformance cases in moto_server's Step Functions interpreter.

Each case gets a freshly reset moto with real ASL execution turned on, an SQS
render queue served by a test worker thread (the SendTaskSuccess/Failure/
Heartbeat callbacks go through moto for real), and Lambda functions that
return queued canned results (moto's lambda-simple backend: no Docker).

  driver.py --endpoint http://127.0.0.1:PORT --record tests/conformance/moto-results.json
  driver.py --endpoint http://127.0.0.1:PORT --verify tests/conformance/moto-results.json
"""

import argparse
import io
import json
import sys
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
FUNCTIONS = {
    "JudgeFunctionArn": "judge",
    "FinalizeFunctionArn": "finalize",
    "MarkFailedFunctionArn": "mark-failed",
    "NotifyFunctionArn": "notify",
}


def post(endpoint, path, body):
    req = urllib.request.Request(
        endpoint + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()


def substitute(text, values):
    out, rest = [], text
    while "${" in rest:
        start = rest.index("${")
        end = rest.index("}", start)
        name = rest[start + 2 : end]
        if name not in values:
            raise SystemExit(f"definition uses ${{{name}}} but no value was given")
        out.append(rest[:start])
        out.append(values[name])
        rest = rest[end + 1 :]
    out.append(rest)
    return "".join(out)


def lambda_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


class Worker(threading.Thread):
    """Answers render-queue messages with the case's scripted actions, in order."""

    def __init__(self, sqs, sfn, queue_url, actions):
        super().__init__(daemon=True)
        self.sqs, self.sfn, self.queue_url = sqs, sfn, queue_url
        self.actions = list(actions)
        self.messages = []
        self.problems = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            got = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1
            ).get("Messages", [])
            for m in got:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])
                body = json.loads(m["Body"])
                token = body.pop("TaskToken")
                self.messages.append(body)
                if not self.actions:
                    self.problems.append(f"unexpected message {body}")
                    continue
                act = self.actions.pop(0)
                try:
                    self.answer(token, body, act)
                except Exception as e:  # noqa: BLE001 - recorded so the comparison shows it
                    self.problems.append(f"{act['action']}: {type(e).__name__}")

    def answer(self, token, body, act):
        kind = act["action"]
        if kind == "silent":
            return
        # moto races an instant answer: with HeartbeatSeconds set, a callback that
        # arrives before its waiter starts is cleared and the task times out.
        # Real workers take seconds; half a second is enough here.
        time.sleep(0.5)
        if kind == "late_success":
            # Held as long as a cold fleet would keep it queued: the render task
            # has no heartbeat, so the wait must not fail it.
            time.sleep(act["seconds"])
            kind = "success_echo"
        if kind == "heartbeat_success":
            self.sfn.send_task_heartbeat(taskToken=token)
            kind = "success_echo"
        if kind == "success_echo":
            self.sfn.send_task_success(taskToken=token, output=json.dumps(dict(body, rendered=True)))
        elif kind == "fail":
            self.sfn.send_task_failure(taskToken=token, error=act["error"], cause=act["cause"])
        else:
            self.problems.append(f"unknown action {kind}")


def run_case(endpoint, case, base_subs):
    post(endpoint, "/moto-api/reset", {})
    post(endpoint, "/moto-api/config", {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}})
    kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")
    iam, sqs, sfn, lam = (boto3.client(s, **kw) for s in ("iam", "sqs", "stepfunctions", "lambda"))
    role = iam.create_role(RoleName="likeness-conformance", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    queue_url = sqs.create_queue(QueueName="render")["QueueUrl"]
    subs = dict(base_subs, RenderQueueUrl=queue_url)
    code = lambda_zip()
    for key, name in FUNCTIONS.items():
        fn = lam.create_function(
            FunctionName=name, Runtime="python3.12", Role=role, Handler="index.handler", Code={"ZipFile": code}
        )
        subs[key] = fn["FunctionArn"]
    if case.get("lambda"):
        post(
            endpoint,
            "/moto-api/static/lambda-simple/response",
            {"results": [json.dumps(r) for r in case["lambda"]], "region": REGION},
        )
    definition = substitute((ROOT / case["definition"]).read_text(), subs)
    machine = sfn.create_state_machine(name=case["name"], definition=definition, roleArn=role)["stateMachineArn"]
    worker = Worker(sqs, sfn, queue_url, case.get("worker", []))
    worker.start()
    started = time.monotonic()
    arn = sfn.start_execution(stateMachineArn=machine, name=case["name"], input=json.dumps(case["input"]))["executionArn"]
    while True:
        desc = sfn.describe_execution(executionArn=arn)
        if desc["status"] != "RUNNING":
            break
        if time.monotonic() - started > 120:
            tail = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"][-8:]
            for e in tail:
                print("  ", e["type"], json.dumps({k: v for k, v in e.items() if k.endswith("Details")})[:300])
            raise SystemExit(f"case {case['name']}: still RUNNING after 120 s (worker: {worker.problems}, {len(worker.messages)} messages)")
        time.sleep(0.2)
    time.sleep(1.2)  # let the worker drain anything left, so unexpected messages are seen
    worker.stop.set()
    worker.join()
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
    failed = next((e for e in events if e["type"] == "ExecutionFailed"), None)
    details = (failed or {}).get("executionFailedEventDetails", {})
    return {
        "name": case["name"],
        "status": desc["status"],
        "output": json.loads(desc["output"]) if desc.get("output") else None,
        "error": details.get("error"),
        "cause": details.get("cause"),
        "entered": entered,
        "messages": worker.messages,
        "worker_problems": worker.problems,
        "seconds": round(time.monotonic() - started, 1),
    }


def comparable(result):
    return {k: v for k, v in result.items() if k != "seconds"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--cases", default=str(ROOT / "tests/conformance/cases.json"))
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--record", help="write moto's results to this file")
    mode.add_argument("--verify", help="compare moto's results with this file")
    ap.add_argument("--only", help="run only the case with this name")
    args = ap.parse_args()
    spec = json.loads(Path(args.cases).read_text())
    results = []
    for case in spec["cases"]:
        if args.only and case["name"] != args.only:
            continue
        r = run_case(args.endpoint, case, spec["substitutions"])
        print(f"{r['name']}: {r['status']} {r['error'] or ''} entered={r['entered']} ({r['seconds']} s)", flush=True)
        results.append(r)
    if args.record:
        if args.only and Path(args.record).exists():
            # Re-recording one case keeps the others.
            kept = [r for r in json.loads(Path(args.record).read_text())["results"] if r["name"] != args.only]
            order = [c["name"] for c in spec["cases"]]
            results = sorted(kept + results, key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))
        Path(args.record).write_text(json.dumps({"moto": moto_version(), "results": results}, indent=2) + "\n")
        print(f"recorded {len(results)} cases in {args.record}")
        return 0
    expected = {r["name"]: r for r in json.loads(Path(args.verify).read_text())["results"]}
    bad = 0
    for r in results:
        want = expected.get(r["name"])
        if want is None or comparable(want) != comparable(r):
            bad += 1
            print(f"MISMATCH {r['name']}:\n  recorded {json.dumps(want and comparable(want))}\n  live     {json.dumps(comparable(r))}")
    print(f"{len(results) - bad}/{len(results)} cases match the recorded results")
    return 1 if bad else 0


def moto_version():
    try:
        import moto

        return moto.__version__
    except Exception:  # noqa: BLE001 - version is informational only
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
