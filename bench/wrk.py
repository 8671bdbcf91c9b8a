"""HTTP throughput with wrk: the same POST (body and headers) to every server."""

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
        script = Path(folder) / "post.lua"
        script.write_text(_LUA.format(body_path=body_path, auth=auth))
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
