"""HTTP throughput with wrk: the same POST (body and headers) to every server, or a list of
POSTs taken in turn (`run_many`)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CONNECTIONS = 16
THREADS = 2
# wrk's default (2 s) would count the slowest baseline's slow answers as socket errors.
TIMEOUT_SECONDS = 30

_LUA = """
local f = assert(io.open("{body_path}", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
{auth}
"""
# Each wrk thread takes the requests in turn, starting at its own place in the list.
_LUA_MANY = """
local requests = {{}}
{requests}
local next_index = 1
local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("first", thread_count)
end
function init(args)
  next_index = first or 1
end
function request()
  local r = requests[(next_index - 1) % #requests + 1]
  next_index = next_index + 1
  return r
end
"""
_REQUEST_LUA = """
do
  local f = assert(io.open("{body_path}", "rb"))
  local body = f:read("*a")
  f:close()
  requests[#requests + 1] = wrk.format("POST", nil, {{
    ["Content-Type"] = "application/json", ["Authorization"] = "{authorization}"
  }}, body)
end
"""
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    requests: int
    p50_seconds: float | None
    p99_seconds: float | None
    non_2xx: int
    socket_errors: int


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk (make bench does it)")
    return path


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rps is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    percentiles = {
        p: _seconds(value)
        for p, value in re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", output, re.MULTILINE)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        requests=int(total.group(1)),
        p50_seconds=percentiles.get("50"),
        p99_seconds=percentiles.get("99"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def _wrk(
    script_text: str, folder: str, url: str, seconds: float, connections: int, threads: int
) -> WrkResult:
    script = Path(folder) / "post.lua"
    script.write_text(script_text)
    completed = subprocess.run(
        [
            wrk_path(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "--timeout",
            f"{TIMEOUT_SECONDS}s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}):\n{completed.stderr}")
    return parse(completed.stdout)


def run(
    url: str,
    body: bytes,
    authorization: str | None,
    seconds: float,
    *,
    connections: int = CONNECTIONS,
    threads: int = THREADS,
) -> WrkResult:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        body_path = Path(folder) / "body.json"
        body_path.write_bytes(body)
        auth = f'wrk.headers["Authorization"] = "{authorization}"' if authorization else ""
        return _wrk(
            _LUA.format(body_path=body_path, auth=auth), folder, url, seconds, connections, threads
        )


def run_many(
    url: str,
    requests: list[tuple[str, bytes]],
    seconds: float,
    *,
    connections: int = CONNECTIONS,
    threads: int = THREADS,
) -> WrkResult:
    """wrk POSTing `requests` ((authorization, body) pairs) in turn, each thread from its own
    place in the list, so concurrent requests ask for different things."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        parts = []
        for index, (authorization, body) in enumerate(requests):
            body_path = Path(folder) / f"body-{index}.json"
            body_path.write_bytes(body)
            parts.append(_REQUEST_LUA.format(body_path=body_path, authorization=authorization))
        script = _LUA_MANY.format(requests="".join(parts))
        return _wrk(script, folder, url, seconds, connections, threads)
