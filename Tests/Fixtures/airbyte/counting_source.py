#!/usr/bin/env python3
"""An Airbyte source for the tests, speaking the protocol as airbyte-source-* packages do: one stream,
`items`, records n = 1..total with a STATE after every `state_every` of them, resumed exactly from the
state it is given (`{"n": last}`). Its configuration (`--config FILE`):
  total        how many records (default 10)
  state_every  records between STATE messages (default 5)
  delay_ms     a pause before each record, to be caught mid-read (default 0)
  crash_at     on a run that starts from nothing, exit 1 with a TRACE error after this record, before the
               next STATE (default: never)
  hang_at      on a run that starts from nothing, write nothing more after this record (a deadlock)
  name         each record's `name` is this plus its number (default "item ")
  refuse_check `check` answers FAILED (a wrong API key)
Started as `counting_source.py --discover-delay-ms N COMMAND ...`, `discover` waits that long before it
opens its configuration file: a check run meanwhile must not take that file away.
"""
import json
import sys
import time


def say(message):
    print(json.dumps(message), flush=True)


def option(name):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None


discover_delay = 0
if sys.argv[1:2] == ["--discover-delay-ms"]:
    discover_delay = int(sys.argv[2]) / 1000
    del sys.argv[1:3]
command = sys.argv[1] if len(sys.argv) > 1 else ""
if command == "discover":
    time.sleep(discover_delay)
config = json.load(open(option("--config"))) if option("--config") else {}
if command == "spec":
    say({"type": "SPEC", "spec": {"connectionSpecification": {"type": "object", "properties": {}}}})
elif command == "check":
    if config.get("refuse_check"):
        say({"type": "CONNECTION_STATUS", "connectionStatus": {"status": "FAILED", "message": "the API key is wrong"}})
    else:
        say({"type": "CONNECTION_STATUS", "connectionStatus": {"status": "SUCCEEDED", "message": "counting"}})
elif command == "discover":
    say({"type": "CATALOG", "catalog": {"streams": [{
        "name": "items", "json_schema": {"type": "object"}, "supported_sync_modes": ["full_refresh", "incremental"],
        "source_defined_cursor": True, "default_cursor_field": ["n"], "source_defined_primary_key": [["n"]]}]}})
elif command == "read":
    state = json.load(open(option("--state"))) if option("--state") else []
    start = state[0]["stream"]["stream_state"]["n"] if state else 0
    total, every = int(config.get("total", 10)), int(config.get("state_every", 5))
    delay, crash_at, hang_at = float(config.get("delay_ms", 0)) / 1000, config.get("crash_at"), config.get("hang_at")
    say({"type": "LOG", "log": {"level": "INFO", "message": f"reading items after {start}"}})
    for n in range(start + 1, total + 1):
        if delay:
            time.sleep(delay)
        say({"type": "RECORD", "record": {"stream": "items", "data": {"n": n, "name": f"{config.get('name', 'item ')}{n}"},
                                          "emitted_at": int(time.time() * 1000)}})
        if start == 0 and crash_at is not None and n == crash_at:
            say({"type": "TRACE", "trace": {"type": "ERROR", "emitted_at": 0,
                                            "error": {"message": "the API went away", "failure_type": "transient_error"}}})
            sys.exit(1)
        if start == 0 and hang_at is not None and n == hang_at:
            time.sleep(3600)
        if n % every == 0 or n == total:
            say({"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "items"}, "stream_state": {"n": n}}}})
else:
    print(f"unknown command {command!r}", file=sys.stderr)
    sys.exit(2)
