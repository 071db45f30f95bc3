"""The local stack: the Firestore, Pub/Sub and Cloud Tasks emulators and every function, on 127.0.0.1.

    .venv/bin/python -m local_stack.stack up       # start, stay in the foreground, stop on Ctrl-C
    .venv/bin/python -m local_stack.stack start    # start and return; state in .local/stack.json
    .venv/bin/python -m local_stack.stack status   # what runs, and whether it answers
    .venv/bin/python -m local_stack.stack stop     # stop what `start` left running

Functions come from ``shared.topology.FUNCTIONS``, queues from ``QUEUES``. Ports are the defaults
below or the catalogue's, overridden by FIRESTORE_PORT, PUBSUB_PORT, TASKS_PORT and PORT_<NAME>,
then shifted by ``--port-offset`` (or STACK_PORT_OFFSET). Every process runs in its own session and
is stopped with ``os.killpg``: killing the ``gcloud`` wrapper alone leaves its Java child running.

A second stack beside the first, from the same checkout: ``--port-offset N`` alone is enough. The
state (``stack.json``, logs, keys, secrets) lives in ``--state-dir`` or STACK_STATE_DIR when given,
else in ``.local/`` at offset 0 and ``.local/stack-<N>/`` at offset N (:func:`state_dir_for`).
Every subcommand finds its stack by the same rule.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from local_stack import local_env
from shared.topology import FUNCTIONS, QUEUES, FunctionSpec, all_topics, function, subscription_for

HOST = "127.0.0.1"
EMULATORS = {
    "firestore": ("FIRESTORE_PORT", 8280),
    "pubsub": ("PUBSUB_PORT", 8285),
    "tasks": ("TASKS_PORT", 8290),
    "sandbox": ("SANDBOX_PORT", 8300),  # the sandbox payment provider (stand_ins/sandbox_provider.py)
    "push-relay": ("PUSH_RELAY_PORT", 8299),  # adds Pub/Sub push's OIDC token (local_stack/push_relay.py)
    # The real rails' stand-ins (stand_ins/adyen.py, stand_ins/stripe_connect.py); Adyen traffic
    # goes through Prism, which validates every request and answer against Adyen's OpenAPI.
    "adyen": ("ADYEN_STAND_IN_PORT", 8296),
    "stripe": ("STRIPE_STAND_IN_PORT", 8297),
    "prism-adyen": ("PRISM_ADYEN_PORT", 8298),
    # Cloud Storage (gcp-storage-emulator, wrapped: preconditions, Eventarc finalize events) and the
    # bank that reads the pain.001 files and answers with pain.002 / camt files (stand_ins/bank.py).
    "storage": ("STORAGE_PORT", 8295),
    "bank": ("BANK_PORT", 8293),
    "iap-proxy": ("IAP_PROXY_PORT", 8292),  # the console's sign-in, as IAP (local_stack/iap_proxy.py)
}
ADYEN_SPEC = "shared/contracts/adyen/TransferService-v4.json"
# Eventarc triggers: function -> the bucket whose finalized objects it receives ("inbound" or
# "outbound", the bank-file buckets). Wired only for functions that exist in shared.topology.
STORAGE_TRIGGERS: dict[str, str] = {"bank-files-inbound": "inbound"}
HEALTH_TIMEOUT = 60.0
STOP_GRACE = 10.0
STATE_DIR_ENV = "STACK_STATE_DIR"
PORT_OFFSET_ENV = "STACK_PORT_OFFSET"


def port_offset_for(port_offset: int | None = None) -> int:
    """The port offset given, else STACK_PORT_OFFSET, else 0."""
    if port_offset is not None:
        return port_offset
    return int(os.environ.get(PORT_OFFSET_ENV) or 0)


def state_dir_for(root: Path, state_dir: Path | None = None, port_offset: int | None = None) -> Path:
    """Where the stack of a checkout keeps its state: the directory given, else STACK_STATE_DIR,
    else ``.local/`` at port offset 0 and ``.local/stack-<offset>/`` at any other offset (so that
    a second stack beside the first never shares its state file)."""
    if state_dir is None and os.environ.get(STATE_DIR_ENV):
        state_dir = Path(os.environ[STATE_DIR_ENV])
    if state_dir is None:
        offset = port_offset_for(port_offset)
        state_dir = root / ".local" if offset == 0 else root / ".local" / f"stack-{offset}"
    return state_dir.resolve()


class StackError(Exception):
    """The stack cannot start or stop; the message says why and what to do."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Process:
    name: str  # firestore | pubsub | tasks | a function name
    port: int
    log: str
    pid: int = 0  # also its process group id: each process leads its own session

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"


# ---- processes ---------------------------------------------------------------------------------


def _group_members(pgid: int) -> list[tuple[int, str]]:
    """Live (non-zombie) processes of a process group, as (pid, command name)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            text = stat.read_text()
            comm = text[text.index("(") + 1 : text.rindex(")")]
            state, _ppid, pgrp = text[text.rindex(")") + 2 :].split()[:3]
            if int(pgrp) == pgid and state != "Z":
                members.append((int(stat.parent.name), comm))
    return members


def _group_rss_mb(pgid: int) -> float:
    total_kb = 0
    for pid, _ in _group_members(pgid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    if pgid > 1 and _group_members(pgid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)


def _wait_gone(pgids: list[int], popens: dict[int, subprocess.Popen[bytes]], timeout: float) -> list[int]:
    """Wait until the groups are empty; return those that are not."""
    deadline = time.monotonic() + timeout
    while True:
        for popen in popens.values():
            popen.poll()  # reap our own children so they do not linger as zombies
        pgids = [g for g in pgids if _group_members(g)]
        if not pgids or time.monotonic() > deadline:
            return pgids
        time.sleep(0.1)


def _stop_groups(pgids: list[int], popens: dict[int, subprocess.Popen[bytes]], grace: float) -> list[int]:
    """SIGTERM each group, SIGKILL what is left after `grace` s; return the groups that survived."""
    for pgid in pgids:
        _signal_group(pgid, signal.SIGTERM)
    pgids = _wait_gone(pgids, popens, grace)
    for pgid in pgids:
        _signal_group(pgid, signal.SIGKILL)
    return _wait_gone(pgids, popens, 5.0)


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _tail(path: str, lines: int = 25) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ---- health ------------------------------------------------------------------------------------


def http_answers(url: str, timeout: float = 1.0) -> bool:
    """Any HTTP response, even 4xx/5xx, means the server is up."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - local URL
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def tasks_answers(address: str, project: str, location: str) -> bool:
    """ListQueues over gRPC succeeds and lists every queue of the catalogue."""
    import grpc
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    parent = f"projects/{project}/locations/{location}"
    channel = grpc.insecure_channel(address)
    try:
        client = tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
        names = {q.name for q in client.list_queues(parent=parent, timeout=2)}
    except Exception:
        return False
    finally:
        channel.close()
    return all(f"{parent}/queues/{q}" in names for q in QUEUES)


# ---- the stack ---------------------------------------------------------------------------------


class Stack:
    def __init__(
        self, root: Path, state_dir: Path, project: str, location: str, procs: dict[str, Process]
    ) -> None:
        self.root = root
        self.state_dir = state_dir
        self.project = project
        self.location = location
        self.procs = procs
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.startup_seconds = 0.0
        self._popens: dict[int, subprocess.Popen[bytes]] = {}
        self.extra_env: dict[str, str] = {}  # merged into every function's environment

    # ---- addresses ----
    def url(self, function_name: str) -> str:
        return f"http://{self.procs[function_name].address}"

    @property
    def console_url(self) -> str:
        """Where people open the console: through the IAP stand-in, which signs them in."""
        return f"http://{self.procs['iap-proxy'].address}"

    @property
    def console_sign_in(self) -> str:
        """Who may sign in to the local console, and as what (local_env.CONSOLE_USERS)."""
        return ", ".join(f"{email} ({'/'.join(roles)})" for email, roles in local_env.CONSOLE_USERS.items())

    @property
    def urls(self) -> dict[str, str]:
        return {spec.name: self.url(spec.name) for spec in FUNCTIONS}

    @property
    def env(self) -> dict[str, str]:
        """What a client of the stack (tests, demo, ops CLI) needs in its environment."""
        env = {
            "GOOGLE_CLOUD_PROJECT": self.project,
            "FIRESTORE_EMULATOR_HOST": self.procs["firestore"].address,
            "PUBSUB_EMULATOR_HOST": self.procs["pubsub"].address,
            "CLOUD_TASKS_EMULATOR_HOST": self.procs["tasks"].address,
            "TASKS_LOCATION": self.location,
            "SANDBOX_URL": f"http://{self.procs['sandbox'].address}",
            # Adyen's Transfers API through Prism (it matches the spec's paths without /btl/v4).
            "ADYEN_TRANSFERS_URL": f"http://{self.procs['prism-adyen'].address}",
            "ADYEN_STAND_IN_URL": f"http://{self.procs['adyen'].address}",
            # Adyen's Configuration API (balance accounts: the funding check), the stand-in's own.
            "ADYEN_BALANCE_PLATFORM_URL": f"http://{self.procs['adyen'].address}/bcl/v2",
            "STRIPE_API_URL": f"http://{self.procs['stripe'].address}",
            "STORAGE_EMULATOR_HOST": f"http://{self.procs['storage'].address}",
            "BANK_OUTBOUND_BUCKET": self.bucket("outbound"),
            "BANK_INBOUND_BUCKET": self.bucket("inbound"),
            "BANK_URL": f"http://{self.procs['bank'].address}",
            "DOCUMENTS_BUCKET": self.documents_bucket,  # remittance advice (issue 18)
            "TAX_REPORTS_BUCKET": self.tax_reports_bucket,  # DAC7 files (issue 18)
        }
        env.update({_url_env(name): url for name, url in self.urls.items()})
        return env

    @property
    def documents_bucket(self) -> str:
        """The local documents bucket (remittance advice, issue 18)."""
        return f"{self.project}-documents"

    @property
    def tax_reports_bucket(self) -> str:
        """The local tax-reports bucket (DAC7 files, issue 18)."""
        return f"{self.project}-tax-reports"

    def bucket(self, role: str) -> str:
        """The local bank-file buckets: ``<project>-bank-outbound`` and ``<project>-bank-inbound``."""
        return f"{self.project}-bank-{role}"

    # ---- start ----
    @classmethod
    def start(
        cls,
        root: Path,
        *,
        port_offset: int | None = None,
        ports: dict[str, int] | None = None,
        state_dir: Path | None = None,
        timeout: float = HEALTH_TIMEOUT,
        extra_env: dict[str, str] | None = None,
    ) -> Stack:
        """Start everything and return once every part answers; raise StackError otherwise.
        ``port_offset`` and ``state_dir`` default as :func:`port_offset_for` and
        :func:`state_dir_for` say. ``extra_env`` is merged into every function's environment
        (e.g. PAYOUTS_METRICS_FILE)."""
        t0 = time.monotonic()
        root = root.resolve()
        port_offset = port_offset_for(port_offset)
        state_dir = state_dir_for(root, state_dir, port_offset)
        project = os.environ.get("PAYOUTS_PROJECT", "payouts-local")
        location = os.environ.get("TASKS_LOCATION", "europe-west1")
        chosen = {
            name: int(os.environ.get(env, default)) + port_offset
            for name, (env, default) in EMULATORS.items()
        }
        chosen.update(
            {s.name: int(os.environ.get(s.port_env, s.default_port)) + port_offset for s in FUNCTIONS}
        )
        chosen.update(ports or {})
        logs = state_dir / "logs"
        procs = {name: Process(name, port, str(logs / f"{name}.log")) for name, port in chosen.items()}
        stack = cls(root, state_dir, project, location, procs)
        stack.extra_env = dict(extra_env or {})
        stack._preflight()
        logs.mkdir(parents=True, exist_ok=True)
        (state_dir / "pubsub").mkdir(exist_ok=True)
        # Spans of an earlier stack name payouts its fresh emulators no longer hold.
        shutil.rmtree(state_dir / "traces", ignore_errors=True)
        # Likewise bank files, documents and the bank stand-in's books (issue 16): a statement of
        # an earlier stack names payouts the fresh Firestore does not hold (unknown_to_us breaks).
        shutil.rmtree(state_dir / "storage", ignore_errors=True)
        (state_dir / "bank.json").unlink(missing_ok=True)
        _ensure_local_material(state_dir)  # OIDC keys and secrets, before anything uses them
        try:
            for name in procs:
                stack._launch(name)
            stack._write_state()  # early, so that `stop` can clean up after an interrupted start
            stack._await_health(list(EMULATORS), timeout)
            stack._provision_pubsub()
            stack._await_health([s.name for s in FUNCTIONS], timeout - (time.monotonic() - t0))
        except BaseException:
            with contextlib.suppress(StackError):
                stack.stop()
            raise
        stack.startup_seconds = round(time.monotonic() - t0, 2)
        stack._write_state()
        return stack

    def _preflight(self) -> None:
        if not (self.root / "main.py").exists():
            raise StackError(f"{self.root / 'main.py'} is missing: it names every function's entry point.", 2)
        gcloud = shutil.which("gcloud")
        if not gcloud:
            raise StackError(
                "gcloud is not on PATH: install the Google Cloud SDK (apt: google-cloud-cli).", 2
            )
        if java_major() < 17:
            raise StackError("the emulators need Java 17+ on PATH (apt: openjdk-17-jre-headless).", 2)
        missing = missing_emulator_components(gcloud)
        if missing:
            raise StackError("missing gcloud components: " + "; ".join(missing), 2)
        needed = ((_tasks_python(self.root), ".venv-tasks"), (_ff_bin(self.root), ".venv"),
                  (_prism_bin(self.root), "node_modules (npm ci)"))  # fmt: skip
        for path, what in needed:
            if not path.exists():
                raise StackError(f"{path} is missing: run scripts/bootstrap.sh to create {what}.", 2)
        busy = [f"{p.port} ({p.name})" for p in self.procs.values() if not port_free(p.port)]
        if busy:
            raise StackError(
                "port(s) already in use: " + ", ".join(busy) + ". Stop what holds them, "
                "or move the stack with --port-offset N or the *_PORT / PORT_<NAME> variables.",
                2,
            )

    def _command(self, name: str) -> tuple[list[str], dict[str, str]]:
        p = self.procs[name]
        env = dict(
            os.environ,
            PYTHONUNBUFFERED="1",
            CLOUDSDK_CORE_DISABLE_PROMPTS="1",
            CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1",
        )
        if name == "firestore":
            return ["gcloud", "emulators", "firestore", "start", f"--host-port={p.address}"], env
        if name == "pubsub":
            data_dir = self.state_dir / "pubsub"
            argv = ["gcloud", "beta", "emulators", "pubsub", "start", f"--host-port={p.address}"]
            return [*argv, f"--project={self.project}", f"--data-dir={data_dir}"], env
        if name == "sandbox":
            secrets = _local_secrets(self.state_dir)
            env.update(
                SANDBOX_API_KEY=str(secrets["provider_api_key"]),
                SANDBOX_WEBHOOK_SECRET=str(secrets["provider_webhook_secret"]),
            )
            argv = [str(self.root / ".venv" / "bin" / "python"), "-m", "stand_ins.sandbox_provider"]
            argv += [
                "--host",
                HOST,
                "--port",
                str(p.port),
                "--state-file",
                str(self.state_dir / "sandbox.json"),
                "--save-interval",
                "1",
            ]
            return [*argv, "--webhook-url", self.url("provider-webhook") + "/sandbox"], env
        if name in ("adyen", "stripe"):
            return self._rail_stand_in(name, p, env)
        if name == "prism-adyen":
            upstream = f"http://{self.procs['adyen'].address}/btl/v4"
            argv = [str(_prism_bin(self.root)), "proxy", "-h", HOST, "-p", str(p.port), ADYEN_SPEC, upstream]
            return [*argv, "--errors"], env
        if name == "push-relay":
            argv = [
                str(self.root / ".venv" / "bin" / "python"),
                "-m",
                "local_stack.push_relay",
                "--host",
                HOST,
            ]
            argv += ["--port", str(p.port), "--state-dir", str(self.state_dir), "--project", self.project]
            pushed = [s.name for s in FUNCTIONS if s.trigger == "pubsub"]
            return [*argv, *(f"--target={n}={self.url(n)}" for n in pushed)], env
        if name == "storage":
            argv = [str(self.root / ".venv" / "bin" / "python"), "-m", "local_stack.storage_emulator"]
            argv += ["--host", HOST, "--port", str(p.port), "--data-dir", str(self.state_dir / "storage")]
            argv += ["--state-dir", str(self.state_dir), "--project", self.project]
            argv += [f"--bucket={self.bucket(role)}" for role in ("outbound", "inbound")]
            argv += [f"--bucket={self.documents_bucket}"]  # remittance advice (issue 18)
            argv += [f"--bucket={self.tax_reports_bucket}"]  # DAC7 files (issue 18)
            names = {s.name for s in FUNCTIONS}
            triggers = [(fn, role) for fn, role in STORAGE_TRIGGERS.items() if fn in names]
            return [*argv, *(f"--trigger={self.bucket(role)}={self.url(fn)}" for fn, role in triggers)], env
        if name == "bank":
            from shared.settings import Settings

            argv = [str(self.root / ".venv" / "bin" / "python"), "-m", "stand_ins.bank", "--host", HOST]
            argv += [
                "--port",
                str(p.port),
                "--project",
                self.project,
                "--state-file",
                str(self.state_dir / "bank.json"),
            ]
            argv += ["--storage-emulator-host", f"http://{self.procs['storage'].address}"]
            argv += ["--outbound-bucket", self.bucket("outbound"), "--inbound-bucket", self.bucket("inbound")]
            return [*argv, "--account-iban", Settings().sepa_debtor_iban], env
        if name == "iap-proxy":
            argv = [str(self.root / ".venv" / "bin" / "python"), "-m", "local_stack.iap_proxy"]
            argv += ["--host", HOST, "--port", str(p.port), "--state-dir", str(self.state_dir)]
            return [*argv, "--target", self.url("console")], env
        if name == "tasks":
            env.update(
                TASKS_EMULATOR_OIDC_KEY=str(self.state_dir / "oidc" / "private.pem"),
                TASKS_EMULATOR_OIDC_ISSUER=_local_issuer(),
            )
            queues = [
                f"--default-queue=projects/{self.project}/locations/{self.location}/queues/{q}"
                for q in QUEUES
            ]
            script = str(self.root / "local_stack" / "tasks_emulator.py")
            return [str(_tasks_python(self.root)), script, f"--port={p.port}", *queues], env
        spec = function(name)
        # No --signature-type: as in production, the function's decorator decides it.
        argv = [str(_ff_bin(self.root)), "--source", "main.py", "--target", spec.entry_point]
        argv += ["--host", HOST, "--port", str(p.port)]
        env.update(self.env)
        env.update(PAYOUTS_ENV="local", FUNCTION_NAME=name, FUNCTION_REGION=self.location)
        env.update(_local_env(self.state_dir, spec, self.url(name), self.project))
        env.update(self.extra_env)
        return argv, env

    def _rail_stand_in(self, name: str, p: Process, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        sec = _local_secrets(self.state_dir)
        if name == "adyen":
            hmac_keys = sec["adyen_hmac_keys"]
            assert isinstance(hmac_keys, list)
            env.update(ADYEN_API_KEY=str(sec["adyen_api_key"]), ADYEN_HMAC_KEY=str(hmac_keys[0]))
            module = "stand_ins.adyen"
        else:
            secrets = sec["stripe_webhook_secrets"]
            assert isinstance(secrets, list)
            env.update(STRIPE_SECRET_KEY=str(sec["stripe_secret_key"]), STRIPE_WEBHOOK_SECRET=str(secrets[0]))
            module = "stand_ins.stripe_connect"
        argv = [
            str(self.root / ".venv" / "bin" / "python"),
            "-m",
            module,
            "--host",
            HOST,
            "--port",
            str(p.port),
        ]
        argv += ["--state-file", str(self.state_dir / f"{name}.json"), "--save-interval", "1"]
        return [*argv, "--webhook-url", self.url("provider-webhook") + f"/{name}"], env

    def _launch(self, name: str, log_mode: str = "w") -> None:
        argv, env = self._command(name)
        with open(self.procs[name].log, log_mode) as log:
            popen = subprocess.Popen(
                argv,
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name].pid = popen.pid
        self._popens[popen.pid] = popen

    def answers(self, name: str) -> bool:
        p = self.procs[name]
        if name == "tasks":
            return tasks_answers(p.address, self.project, self.location)
        if name in ("sandbox", "bank", "adyen", "stripe", "prism-adyen", "iap-proxy"):  # Prism: 404 = up
            return http_answers(f"http://{p.address}/healthz")
        return http_answers(f"http://{p.address}/")

    def _await_health(self, names: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(names)
        while waiting:
            # A process being waited for that died fails the start. Only those: another thread may
            # be killing some other function on purpose meanwhile (the fault harness does).
            for name in names:
                popen = self._popens.get(self.procs[name].pid)
                if popen is not None and popen.poll() is not None:
                    raise self._failure(name, f"exited with code {popen.returncode}")
            waiting = [name for name in waiting if not self.answers(name)]
            if waiting and time.monotonic() > deadline:
                raise self._failure(waiting[0], f"did not answer within {timeout:.0f} s")
            if waiting:
                time.sleep(0.1)

    def _failure(self, name: str, what: str) -> StackError:
        p = self.procs[name]
        return StackError(f"{name} ({p.address}) {what}. Last lines of {p.log}:\n{_tail(p.log)}")

    def _provision_pubsub(self) -> None:
        """Every topic, and a push subscription into each Pub/Sub-triggered function. Idempotent."""
        import grpc
        from google.api_core.exceptions import AlreadyExists
        from google.pubsub_v1 import PublisherClient, SubscriberClient
        from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
        from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

        channel = grpc.insecure_channel(self.procs["pubsub"].address)
        publisher = PublisherClient(transport=PublisherGrpcTransport(channel=channel))
        subscriber = SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))
        try:
            for topic in all_topics():
                with contextlib.suppress(AlreadyExists):
                    publisher.create_topic(name=f"projects/{self.project}/topics/{topic}")
            for spec in FUNCTIONS:
                if spec.trigger != "pubsub" or not spec.topic:
                    continue
                topic_path = f"projects/{self.project}/topics/{spec.topic}"
                # Through the relay, which adds the OIDC token the emulator leaves out and forwards
                # to {function URL}/{topic_path}: functions-framework fills the CloudEvent's source from it.
                relay = f"http://{self.procs['push-relay'].address}"
                push = {"push_endpoint": f"{relay}/push/{spec.name}/{topic_path}"}
                name = f"projects/{self.project}/subscriptions/{subscription_for(spec)}"
                try:
                    subscriber.create_subscription(
                        request={
                            "name": name,
                            "topic": topic_path,
                            "push_config": push,
                            "ack_deadline_seconds": 60,
                        }
                    )
                except AlreadyExists:
                    subscriber.modify_push_config(request={"subscription": name, "push_config": push})
        finally:
            channel.close()

    # ---- state ----
    def _write_state(self) -> None:
        emulators = {n: asdict(self.procs[n]) | {"host": self.procs[n].address} for n in EMULATORS}
        functions = {s.name: asdict(self.procs[s.name]) | {"url": self.url(s.name)} for s in FUNCTIONS}
        state = {
            "project": self.project,
            "location": self.location,
            "root": str(self.root),
            "started_at": self.started_at,
            "startup_seconds": self.startup_seconds,
            "emulators": emulators,
            "functions": functions,
            "env": self.env,
        }
        path = self.state_dir / "stack.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def load(cls, root: Path, state_dir: Path | None = None, *, port_offset: int | None = None) -> Stack:
        """Attach to a stack that `start` left running, found by :func:`state_dir_for`. Raises
        FileNotFoundError if there is none."""
        state_dir = state_dir_for(root.resolve(), state_dir, port_offset)
        state = json.loads((state_dir / "stack.json").read_text())
        procs = {}
        for name, item in [*state["emulators"].items(), *state["functions"].items()]:
            procs[name] = Process(name, item["port"], item["log"], item["pid"])
        stack = cls(Path(state["root"]), state_dir, state["project"], state["location"], procs)
        stack.started_at, stack.startup_seconds = state["started_at"], state["startup_seconds"]
        return stack

    def running(self) -> bool:
        return any(p.pid and _group_members(p.pid) for p in self.procs.values())

    def healthy(self) -> bool:
        return all(self.answers(name) for name in self.procs)

    # ---- faults and stop ----
    def kill_function(self, name: str) -> None:
        """SIGKILL the function's process group (gunicorn master and workers) at once, like a crash."""
        pid = self.procs[function(name).name].pid
        _signal_group(pid, signal.SIGKILL)
        if _wait_gone([pid], self._popens, 5.0):
            raise StackError(f"{name} (pid {pid}) did not die")

    def restart_function(self, name: str, timeout: float = HEALTH_TIMEOUT) -> None:
        """Stop the function if it runs, start it again on its port, and wait until it answers."""
        p = self.procs[function(name).name]
        if p.pid and _stop_groups([p.pid], self._popens, STOP_GRACE):
            raise StackError(f"{name} (pid {p.pid}) did not stop")
        self._launch(name, log_mode="a")
        self._await_health([name], timeout)
        if (self.state_dir / "stack.json").exists():
            self._write_state()

    def kill_process(self, name: str) -> None:
        """SIGKILL any process of the stack (a stand-in, Prism): an outside system going away."""
        pid = self.procs[name].pid
        _signal_group(pid, signal.SIGKILL)
        if _wait_gone([pid], self._popens, 5.0):
            raise StackError(f"{name} (pid {pid}) did not die")

    def restart_process(self, name: str, timeout: float = HEALTH_TIMEOUT) -> None:
        """Start a process of the stack again on its port (after kill_process) and wait for it."""
        p = self.procs[name]
        if p.pid and _stop_groups([p.pid], self._popens, STOP_GRACE):
            raise StackError(f"{name} (pid {p.pid}) did not stop")
        self._launch(name, log_mode="a")
        self._await_health([name], timeout)
        if (self.state_dir / "stack.json").exists():
            self._write_state()

    def stop(self) -> None:
        """Stop every process group, then check that no process is left and every port is free."""
        pgids = [p.pid for p in self.procs.values() if p.pid]
        survivors = _stop_groups(pgids, self._popens, STOP_GRACE)
        if survivors:
            raise StackError(f"process groups still alive after SIGKILL: {survivors}")
        deadline = time.monotonic() + 5
        while busy := [p for p in self.procs.values() if not port_free(p.port)]:
            if time.monotonic() > deadline:
                raise StackError(
                    "ports still in use after stop: " + ", ".join(f"{p.port} ({p.name})" for p in busy)
                )
            time.sleep(0.1)
        with contextlib.suppress(FileNotFoundError):
            state = json.loads((self.state_dir / "stack.json").read_text())
            if state["emulators"]["firestore"]["pid"] == self.procs["firestore"].pid:
                (self.state_dir / "stack.json").unlink()

    def describe(self) -> str:
        rows = []
        for p in self.procs.values():
            rss = _group_rss_mb(p.pid) if p.pid else 0.0
            up = "up" if self.answers(p.name) else "DOWN"
            rows.append(f"  {p.name:<24} http://{p.address:<18} pid {p.pid:<7} {rss:6.0f} MB  {up}")
        return "\n".join([f"project {self.project}, location {self.location}, state {self.state_dir}", *rows])


# ---- helpers -----------------------------------------------------------------------------------


def _url_env(function_name: str) -> str:
    return "FUNCTION_URL_" + function_name.upper().replace("-", "_")


def _tasks_python(root: Path) -> Path:
    return root / ".venv-tasks" / "bin" / "python"


def _prism_bin(root: Path) -> Path:
    return root / "node_modules" / ".bin" / "prism"


def _ff_bin(root: Path) -> Path:
    return root / ".venv" / "bin" / "functions-framework"


def _local_env(state_dir: Path, spec: FunctionSpec, url: str, project: str) -> dict[str, str]:
    """Local secrets and OIDC settings of one function (local_stack/local_env.py)."""
    return local_env.function_env(state_dir, spec, url, project)


def _ensure_local_material(state_dir: Path) -> None:
    local_env.ensure_material(state_dir)


def _local_secrets(state_dir: Path) -> dict[str, object]:
    return local_env.local_secrets(state_dir)


def _local_issuer() -> str:
    return local_env.LOCAL_ISSUER


def sdk_root(gcloud: str) -> Path:
    root = Path(os.path.realpath(gcloud)).parent.parent  # <sdk>/bin/gcloud
    if (root / "platform").is_dir():
        return root
    out = subprocess.run(
        [gcloud, "info", "--format=value(installation.sdk_root)"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return Path(out.stdout.strip())


def java_major() -> int:
    """Major version of the `java` on PATH, 0 if there is none."""
    if not shutil.which("java"):
        return 0
    out = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False, timeout=30)
    found = re.search(r'version "(\d+)', out.stderr + out.stdout)
    return int(found.group(1)) if found else 0


def missing_emulator_components(gcloud: str) -> list[str]:
    """Cheap check: the emulator jars (and `gcloud beta`) under the SDK root."""
    sdk = sdk_root(gcloud)
    wanted = {
        "cloud-firestore-emulator": ("platform/cloud-firestore-emulator/*.jar", "firestore-emulator"),
        "pubsub-emulator": ("platform/pubsub-emulator/lib/*.jar", "pubsub-emulator"),
        "beta": ("lib/surface/beta", ""),
    }
    return [
        f"{name} (gcloud components install {name}"
        + (f", or apt-get install google-cloud-cli-{apt})" if apt else ")")
        for name, (pattern, apt) in wanted.items()
        if not any(sdk.glob(pattern))
    ]


# ---- command line ------------------------------------------------------------------------------


def _print_started(stack: Stack) -> None:
    print(stack.describe())
    print(f"stack up in {stack.startup_seconds:.1f} s; logs in {stack.state_dir / 'logs'}")
    print(
        "client env:  "
        + " ".join(f"{k}={v}" for k, v in stack.env.items() if not k.startswith("FUNCTION_URL"))
    )


def _stop_signal(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack.stack", description="The local stack: emulators and functions."
    )
    parser.add_argument("command", choices=["up", "start", "stop", "status"])
    parser.add_argument(
        "--port-offset",
        type=int,
        default=None,
        help="add N to every port, for a second stack beside the first (default: STACK_PORT_OFFSET, else 0)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="state and logs (default: STACK_STATE_DIR, else .local/ at offset 0, .local/stack-N/ at N)",
    )
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    args = parser.parse_args(argv)
    args.port_offset = port_offset_for(args.port_offset)
    args.state_dir = state_dir_for(args.root.resolve(), args.state_dir, args.port_offset)
    try:
        if args.command in ("stop", "status"):
            try:
                stack = Stack.load(args.root, args.state_dir)
            except FileNotFoundError:
                print(f"no stack is running (no {args.state_dir / 'stack.json'})")
                return 0 if args.command == "stop" else 1
            if args.command == "status":
                print(f"started {stack.started_at} in {stack.startup_seconds:.1f} s")
                print(stack.describe())
                return 0 if stack.healthy() else 1
            stack.stop()
            print("stack stopped; ports free")
            return 0
        signal.signal(signal.SIGTERM, _stop_signal)  # `up` stops everything on SIGTERM too
        with contextlib.suppress(FileNotFoundError):
            old = Stack.load(args.root, args.state_dir)
            if old.running():
                raise StackError(
                    f"a stack is already running in {args.state_dir}: see `status`, or `stop` it first "
                    "(a second stack beside it: --port-offset N).",
                    2,
                )
        stack = Stack.start(args.root, port_offset=args.port_offset, state_dir=args.state_dir)
        _print_started(stack)
        if args.command == "start":
            return 0
        print("Ctrl-C to stop")
        try:
            while True:
                time.sleep(2)
                for name, p in stack.procs.items():
                    popen = stack._popens.get(p.pid)
                    if popen is not None and popen.poll() is not None:
                        print(f"{name} exited with code {popen.returncode}; see {p.log}", file=sys.stderr)
                        del stack._popens[p.pid]
        except KeyboardInterrupt:
            print("\nstopping…")
            stack.stop()
            print("stack stopped")
        return 0
    except StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
