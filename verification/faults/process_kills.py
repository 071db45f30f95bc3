"""SIGKILL of a function mid-work, as a crashed instance: down for a while, then restarted."""

from __future__ import annotations

import time
from typing import Any

from verification.faults.context import FaultContext


def kill_and_restart(ctx: FaultContext, kill: dict[str, Any]) -> None:
    name = kill["function"]
    ctx.say(f"SIGKILL {name} ({kill['when']})")
    ctx.stack.kill_function(name)
    ctx.fault(f"sigkill_{name.replace('-', '_')}")
    time.sleep(float(kill["down_seconds"]))
    with ctx.restarts:  # one restart at a time: each waits for its own process's health
        ctx.stack.restart_function(name)
    ctx.say(f"{name} restarted")
