"""The bank stand-in: plays the platform's bank for the SEPA bank-file rail.

Run::

    .venv/bin/python -m stand_ins.bank --port 8293 --storage-emulator-host http://127.0.0.1:8295 \\
        --outbound-bucket payouts-local-bank-outbound --inbound-bucket payouts-local-bank-inbound \\
        --account-iban DE89370400440532013000 --state-file .local/bank.json [--config '{…}']  # or BANK_CONFIG

It reads every pain.001 the platform writes to the outbound bucket (``pain.001/…``, polled), and
answers in the inbound bucket as a bank's file channel would, each file written with the ISO
20022 bindings of pyiso20022 (xsdata), never by hand:

- ``pain.002/<date>/<MsgId>.xml``: the status report, per transaction ACCP or RJCT with a reason;
- ``camt.054/<date>/<MsgId>.xml``: the debit notification of what it booked (one batch entry with
  a detail per transaction, as for a BtchBookg=true instruction), and later the credit
  notification of each return, with its ISO return reason;
- ``camt.053/<date>/<MsgId>.xml``: on request (``POST /v1/_statements``), the statement of every
  entry not yet on one, with opening and closing balances: closing = opening - booked + returned
  - charges.

Magic accounts (the last 6 characters of the creditor IBAN's account code, as the sandbox
provider's, stand_ins/sample_sellers.py): 999901 RJCT AC04 (closed), 999902 RJCT AC01 (no such
account), 999903 RJCT AC03 (invalid account number), 999904 RJCT AC06 (blocked), 999905 RJCT AG01
(forbidden), 999906 RJCT AM04 (insufficient funds), 999907 booked then returned AC04, 999908
booked one cent short (a planted amount break); anything else booked. A transfer larger than the
account's balance is RJCT AM04; a pain.001 whose MsgId the bank already has is RJCT DU01 as a whole;
one that does not parse is RJCT FF01.

Config (JSON, all optional): opening_balance (minor units, default 10**12), return_delay_ms (1000),
duplicate_file_rate (each answer file is also written a second time under ``…-resent.xml``),
drop_notification_rate (a camt.054 is never written: the statement alone tells), fee_per_file
(a charge booked per pain.001, on the statement only), unexplained_debit (a debit no payout
explains, on the next statement), seed (0). Rates are 0.0-1.0, drawn from a seeded stream.

API: GET /healthz; GET|POST /v1/_config; POST /v1/_process (read outbound files and release due
returns now); POST /v1/_statements {"date": "YYYY-MM-DD"} -> {"object_name"}; POST /v1/_resend {"prefix"?}
-> {"resent": [names]} (every answer file written so far delivered again as ``…-resent.xml``: a
duplicated bank file on demand, after the first copy was read); GET /v1/_state; POST /v1/_reset.
Loopback only, no authentication: it is a test double, not a function.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from pyiso20022.camt.camt_053_001_08 import camt_053_001_08 as camt053
from pyiso20022.camt.camt_054_001_08 import camt_054_001_08 as camt054
from pyiso20022.pain.pain_001_001_09 import pain_001_001_09 as pain001
from pyiso20022.pain.pain_002_001_10 import pain_002_001_10 as pain002
from schwifty import IBAN
from werkzeug.serving import make_server
from xsdata.exceptions import ParserError
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.formats.dataclass.serializers.config import SerializerConfig
from xsdata.models.datatype import XmlDate, XmlDateTime

from shared.adapters.cloud_storage import CloudStorage, ObjectStore
from shared.settings import Settings

JSON = dict[str, Any]
# What the bank does with a transfer to a magic account: (action, ISO reason code).
MAGIC_ACCOUNTS: dict[str, tuple[str, str | None]] = {
    "999901": ("reject", "AC04"),
    "999902": ("reject", "AC01"),
    "999903": ("reject", "AC03"),
    "999904": ("reject", "AC06"),
    "999905": ("reject", "AG01"),
    "999906": ("reject", "AM04"),
    "999907": ("return", "AC04"),
    "999908": ("short", None),
}
BOOKED_TRANSFER = "PMNT/ICDT/ESCT"  # issued SEPA credit transfer
RETURNED_TRANSFER = "PMNT/ICDT/RRTN"  # its return
CHARGES = "ACMT/MDOP/CHRG"
UNEXPLAINED = "PMNT/IDDT/ESDD"  # e.g. a SEPA direct debit nobody on the platform expected
CURRENCY = "EUR"


@dataclasses.dataclass(frozen=True)
class BankConfig:
    opening_balance: int = 10**12
    return_delay_ms: int = 1000
    duplicate_file_rate: float = 0.0
    drop_notification_rate: float = 0.0
    fee_per_file: int = 0
    unexplained_debit: int = 0
    seed: int = 0

    @classmethod
    def parse(cls, data: Any) -> BankConfig:
        """From JSON; omitted keys take their defaults. Raises ValueError."""
        if not isinstance(data, dict):
            raise ValueError("config must be a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        for key, value in data.items():
            if key not in names:
                raise ValueError(f"unknown config key {key!r}")
            if key.endswith("_rate"):
                ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1
            else:
                ok = isinstance(value, int) and not isinstance(value, bool) and (key == "seed" or value >= 0)
            if not ok:
                raise ValueError(f"invalid value for {key!r}: {value!r}")
        values: dict[str, Any] = {k: float(v) if k.endswith("_rate") else v for k, v in data.items()}
        return cls(**values)


def _xml(document: Any) -> bytes:
    serializer = XmlSerializer(config=SerializerConfig(indent="  "))
    namespace = type(document).Meta.namespace
    return serializer.render(document, ns_map={None: namespace}).encode("utf-8")


def _amount(module: Any, minor: int) -> Any:
    return module.ActiveOrHistoricCurrencyAndAmount(value=Decimal(minor).scaleb(-2), ccy=CURRENCY)


def _date(module: Any, day: date) -> Any:
    return module.DateAndDateTime2Choice(dt=XmlDate(day.year, day.month, day.day))


def _code(module: Any, code: str) -> Any:
    domain, family, sub_family = code.split("/")
    return module.BankTransactionCodeStructure4(
        domn=module.BankTransactionCodeStructure5(
            cd=domain, fmly=module.BankTransactionCodeStructure6(cd=family, sub_fmly_cd=sub_family)
        )
    )


def _fate(iban: str | None) -> tuple[str, str | None]:
    """What the bank does with a transfer to ``iban``: the magic accounts, AC01 for no valid IBAN."""
    try:
        account_code = str(IBAN(iban or "").account_code)
    except ValueError:
        return "reject", "AC01"
    return MAGIC_ACCOUNTS.get(account_code[-6:], ("book", None))


class Bank:
    """The bank's books and its file channel. Thread-safe; state saved to ``state_file``."""

    state: JSON

    def __init__(
        self,
        store: ObjectStore,
        outbound_bucket: str,
        inbound_bucket: str,
        account_iban: str,
        config: BankConfig,
        state_file: str | Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.outbound, self.inbound = store, outbound_bucket, inbound_bucket
        self.account_iban, self.clock = account_iban, clock
        self.state_file = Path(state_file) if state_file else None
        self.lock = threading.RLock()
        self.set_config(config)
        self._clear()
        if self.state_file and self.state_file.exists():
            self.state = json.loads(self.state_file.read_text("utf-8"))

    def _clear(self) -> None:
        self.state = {
            "processed": {},  # outbound object name -> its MsgId (or null if unreadable)
            "messages": [],  # MsgIds received
            "balance": self.config.opening_balance,
            "last_closing": None,  # closing balance of the last statement
            "entries": [],  # booked movements: see _book
            "returns": [],  # {"due", "e2e", "amount", "reason", "msg_id", "pmt_inf_id"}
            "seq": 0,
            "files": [],  # inbound object names written
        }

    def set_config(self, config: BankConfig) -> None:
        with self.lock:
            self.config = config
            self.rng = random.Random(f"{config.seed}:bank")

    def reset(self) -> None:
        with self.lock:
            self._clear()
            self.set_config(self.config)
            self._save()

    def _save(self) -> None:
        if self.state_file is None:
            return
        tmp = self.state_file.with_name(self.state_file.name + ".tmp")
        tmp.write_text(json.dumps(self.state, separators=(",", ":")), "utf-8")
        os.replace(tmp, self.state_file)

    def _chance(self, rate: float) -> bool:
        return self.rng.random() < rate  # always draw, so one rate never shifts another

    def _next_id(self, prefix: str) -> str:
        self.state["seq"] += 1
        return f"BANK{prefix}{self.state['seq']:010d}"

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # --- the file channel ------------------------------------------------------------------------

    def _write(self, kind: str, day: date, message_id: str, content: bytes) -> str:
        name = f"{kind}/{day.isoformat()}/{message_id}.xml"
        self.store.put_if_absent(self.inbound, name, content, "application/xml")
        self.state["files"].append(name)
        if self._chance(self.config.duplicate_file_rate):
            resent = f"{kind}/{day.isoformat()}/{message_id}-resent.xml"
            self.store.put_if_absent(self.inbound, resent, content, "application/xml")
            self.state["files"].append(resent)
        return name

    def process_outbound(self) -> int:
        """Answer every pain.001 not answered yet; return how many were read."""
        with self.lock:
            fresh = [
                o.name
                for o in self.store.list(self.outbound, "pain.001/")
                if o.name not in self.state["processed"]
            ]
            for name in fresh:
                content = self.store.get(self.outbound, name)
                if content is not None:
                    self._answer(name, content)
            return len(fresh)

    def _answer(self, name: str, content: bytes) -> None:
        now = self._now()
        try:
            document = XmlParser().from_bytes(content, pain001.Document)
        except (ParserError, ValueError, TypeError) as exc:
            print(f"bank: {name} does not parse: {exc}", file=sys.stderr)
            self._status_report(now.date(), "NOTPROVIDED", [], group=("RJCT", "FF01"), payment_infos=[])
            self.state["processed"][name] = None
            self._save()
            return
        initiation = document.cstmr_cdt_trf_initn
        msg_id = initiation.grp_hdr.msg_id
        if msg_id in self.state["messages"]:
            self._status_report(now.date(), msg_id, [], group=("RJCT", "DU01"), payment_infos=[])
            self.state["processed"][name] = msg_id
            self._save()
            return
        self.state["messages"].append(msg_id)
        statuses: list[tuple[str, str, str | None, int]] = []  # (pmt inf id, e2e, reason or None, amount)
        booked: list[JSON] = []
        for info in initiation.pmt_inf:
            day = date.fromisoformat(str(info.reqd_exctn_dt.dt))
            for tx in info.cdt_trf_tx_inf:
                e2e = tx.pmt_id.end_to_end_id
                amount = int(tx.amt.instd_amt.value.scaleb(2))
                action, code = _fate(tx.cdtr_acct.id.iban if tx.cdtr_acct and tx.cdtr_acct.id else None)
                if action == "reject" or amount > self.state["balance"]:
                    statuses.append((info.pmt_inf_id, e2e, code or "AM04", amount))
                    continue
                statuses.append((info.pmt_inf_id, e2e, None, amount))
                moved = amount - 1 if action == "short" else amount
                booked.append(self._book(moved, "debit", day, BOOKED_TRANSFER, e2e, msg_id, info.pmt_inf_id))
                if action == "return":
                    due = self.clock() + self.config.return_delay_ms / 1000
                    self.state["returns"].append(
                        {"due": due, "e2e": e2e, "amount": moved, "reason": code, "day": day.isoformat(),
                         "msg_id": msg_id, "pmt_inf_id": info.pmt_inf_id}
                    )  # fmt: skip
            if self.config.fee_per_file:
                self._book(self.config.fee_per_file, "debit", day, CHARGES, None, msg_id, None)
        report_day = min(
            (date.fromisoformat(str(i.reqd_exctn_dt.dt)) for i in initiation.pmt_inf), default=now.date()
        )
        infos = sorted({s[0] for s in statuses})
        rejected = sum(1 for s in statuses if s[2])
        group = "RJCT" if rejected == len(statuses) else "PART" if rejected else "ACCP"
        self._status_report(report_day, msg_id, statuses, group=(group, None), payment_infos=infos)
        if booked:
            self._notify(booked)
        self.state["processed"][name] = msg_id
        self._save()

    def _book(
        self, amount: int, direction: str, day: date, code: str, e2e: str | None, msg_id: str | None,
        pmt_inf_id: str | None, reason: str | None = None,
    ) -> JSON:  # fmt: skip
        self.state["balance"] += amount if direction == "credit" else -amount
        entry = {
            "ref": self._next_id("E"), "amount": amount, "direction": direction, "day": day.isoformat(),
            "code": code, "e2e": e2e, "msg_id": msg_id, "pmt_inf_id": pmt_inf_id, "reason": reason,
            "statement": None,
        }  # fmt: skip
        self.state["entries"].append(entry)
        return entry

    def release_returns(self) -> int:
        """Book the returns that are due, each with its credit notification."""
        with self.lock:
            now = self.clock()
            due = [r for r in self.state["returns"] if r["due"] <= now]
            for item in due:
                self.state["returns"].remove(item)
                entry = self._book(
                    item["amount"], "credit", date.fromisoformat(item["day"]), RETURNED_TRANSFER,
                    item["e2e"], item["msg_id"], item["pmt_inf_id"], item["reason"],
                )  # fmt: skip
                self._notify([entry])
            if due:
                self._save()
            return len(due)

    # --- the messages ------------------------------------------------------------------------------

    def _status_report(
        self,
        day: date,
        original: str,
        statuses: list[tuple[str, str, str | None, int]],
        *,
        group: tuple[str, str | None],
        payment_infos: list[str],
    ) -> None:
        m = pain002
        message_id = self._next_id("S")

        def reasons(code: str | None) -> list[Any]:
            return [m.StatusReasonInformation12(rsn=m.StatusReason6Choice(cd=code))] if code else []

        infos = []
        for pmt_inf_id in payment_infos:
            txs = [
                m.PaymentTransaction105(
                    orgnl_end_to_end_id=e2e,
                    tx_sts="RJCT" if code else "ACCP",
                    sts_rsn_inf=reasons(code),
                    orgnl_tx_ref=m.OriginalTransactionReference28(
                        amt=m.AmountType4Choice(instd_amt=_amount(m, amount))
                    ),
                )
                for info_id, e2e, code, amount in statuses
                if info_id == pmt_inf_id
            ]
            infos.append(m.OriginalPaymentInstruction32(orgnl_pmt_inf_id=pmt_inf_id, tx_inf_and_sts=txs))
        document = m.Document(
            cstmr_pmt_sts_rpt=m.CustomerPaymentStatusReportV10(
                grp_hdr=m.GroupHeader86(msg_id=message_id, cre_dt_tm=XmlDateTime.from_datetime(self._now())),
                orgnl_grp_inf_and_sts=m.OriginalGroupHeader17(
                    orgnl_msg_id=original,
                    orgnl_msg_nm_id="pain.001.001.09",
                    grp_sts=group[0],
                    sts_rsn_inf=reasons(group[1]),
                ),
                orgnl_pmt_inf_and_sts=infos,
            )
        )
        self._write("pain.002", day, message_id, _xml(document))

    def _report_entries(self, m: Any, entries: list[JSON]) -> list[Any]:
        """Entries as ISO ReportEntry10: booked debits of one pain.001 as one batch entry with a
        detail per transaction; returns, charges and others one entry each."""
        grouped: dict[tuple[str, str, str | None, str | None], list[JSON]] = {}
        for entry in entries:
            batch = entry["code"] == BOOKED_TRANSFER
            key = (
                entry["code"],
                entry["day"],
                entry["msg_id"] if batch else entry["ref"],
                entry["pmt_inf_id"],
            )
            grouped.setdefault(key, []).append(entry)
        out = []
        for (code, day, _, pmt_inf_id), items in grouped.items():
            debit = items[0]["direction"] == "debit"
            details = [
                m.EntryTransaction10(
                    refs=m.TransactionReferences6(
                        msg_id=e["msg_id"],
                        pmt_inf_id=pmt_inf_id,
                        end_to_end_id=e["e2e"],
                        acct_svcr_ref=e["ref"],
                    ),
                    amt=_amount(m, e["amount"]),
                    cdt_dbt_ind=m.CreditDebitCode.DBIT if debit else m.CreditDebitCode.CRDT,
                    bk_tx_cd=_code(m, code),
                    rtr_inf=m.PaymentReturnReason5(rsn=m.ReturnReason5Choice(cd=e["reason"]))
                    if e["reason"]
                    else None,
                )
                for e in items
                if e["e2e"]
            ]
            out.append(
                m.ReportEntry10(
                    ntry_ref=items[0]["ref"],
                    amt=_amount(m, sum(e["amount"] for e in items)),
                    cdt_dbt_ind=m.CreditDebitCode.DBIT if debit else m.CreditDebitCode.CRDT,
                    sts=m.EntryStatus1Choice(cd="BOOK"),
                    bookg_dt=_date(m, date.fromisoformat(day)),
                    val_dt=_date(m, date.fromisoformat(day)),
                    acct_svcr_ref=items[0]["ref"],
                    bk_tx_cd=_code(m, code),
                    ntry_dtls=[m.EntryDetails9(tx_dtls=details)] if details else [],
                    addtl_ntry_inf={CHARGES: "Charges", UNEXPLAINED: "SEPA direct debit"}.get(code),
                )
            )
        return out

    def _account(self, m: Any) -> Any:
        return m.CashAccount39(id=m.AccountIdentification4Choice(iban=self.account_iban), ccy=CURRENCY)

    def _notify(self, entries: list[JSON]) -> None:
        if self._chance(self.config.drop_notification_rate):
            return  # the missing file: only the statement will tell
        m = camt054
        message_id = self._next_id("N")
        now = XmlDateTime.from_datetime(self._now())
        document = m.Document(
            bk_to_cstmr_dbt_cdt_ntfctn=m.BankToCustomerDebitCreditNotificationV08(
                grp_hdr=m.GroupHeader81(msg_id=message_id, cre_dt_tm=now),
                ntfctn=[
                    m.AccountNotification17(
                        id=message_id,
                        cre_dt_tm=now,
                        acct=self._account(m),
                        ntry=self._report_entries(m, entries),
                    )
                ],
            )
        )
        self._write("camt.054", date.fromisoformat(entries[0]["day"]), message_id, _xml(document))

    def write_statement(self, day: date) -> str:
        """The camt.053 of every entry booked up to ``day`` that is on no statement yet."""
        with self.lock:
            if self.config.unexplained_debit:
                self._book(self.config.unexplained_debit, "debit", day, UNEXPLAINED, None, None, None)
            m = camt053
            message_id = self._next_id("T")
            entries = [
                e for e in self.state["entries"] if e["statement"] is None and e["day"] <= day.isoformat()
            ]
            opening = self.state["last_closing"]
            opening = self.config.opening_balance if opening is None else opening
            closing = opening + sum(
                e["amount"] if e["direction"] == "credit" else -e["amount"] for e in entries
            )
            for entry in entries:
                entry["statement"] = message_id
            now = XmlDateTime.from_datetime(self._now())

            def balance(code: str, minor: int) -> Any:
                return m.CashBalance8(
                    tp=m.BalanceType13(cd_or_prtry=m.BalanceType10Choice(cd=code)),
                    amt=_amount(m, abs(minor)),
                    cdt_dbt_ind=m.CreditDebitCode.CRDT if minor >= 0 else m.CreditDebitCode.DBIT,
                    dt=_date(m, day),
                )

            document = m.Document(
                bk_to_cstmr_stmt=m.BankToCustomerStatementV08(
                    grp_hdr=m.GroupHeader81(msg_id=message_id, cre_dt_tm=now),
                    stmt=[
                        m.AccountStatement9(
                            id=message_id,
                            cre_dt_tm=now,
                            acct=self._account(m),
                            bal=[balance("OPBD", opening), balance("CLBD", closing)],
                            ntry=self._report_entries(m, entries),
                        )
                    ],
                )
            )
            self.state["last_closing"] = closing
            name = self._write("camt.053", day, message_id, _xml(document))
            self._save()
            return name

    def resend(self, prefix: str = "") -> list[str]:
        """Deliver every answer file written so far (under ``prefix``) a second time, under
        ``…-resent.xml`` with the same content, as a bank's file channel that re-sends a day's
        files would: a planted duplicated bank file, which must change nothing. Files already
        re-sent, and the re-sent copies themselves, are not sent again."""
        with self.lock:
            written = set(self.state["files"])
            sent: list[str] = []
            for name in list(self.state["files"]):
                resent = name.removesuffix(".xml") + "-resent.xml"
                if not name.startswith(prefix) or name.endswith("-resent.xml") or resent in written:
                    continue
                content = self.store.get(self.inbound, name)
                if content is None:
                    continue
                self.store.put_if_absent(self.inbound, resent, content, "application/xml")
                self.state["files"].append(resent)
                sent.append(resent)
            self._save()
            return sent

    def snapshot(self) -> JSON:
        with self.lock:
            state = self.state
            return {
                "balance": state["balance"],
                "last_closing": state["last_closing"],
                "processed": len(state["processed"]),
                "entries": len(state["entries"]),
                "pending_returns": len(state["returns"]),
                "files": list(state["files"]),
            }


class Worker:
    """Polls the outbound bucket and releases due returns in the background."""

    def __init__(self, bank: Bank, poll_seconds: float = 0.5) -> None:
        self.bank, self.poll = bank, poll_seconds
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="bank", daemon=True)

    def _run(self) -> None:
        while not self.stop_event.wait(self.poll):
            try:
                self.bank.process_outbound()
                self.bank.release_returns()
            except Exception as exc:  # the storage emulator restarting, say: try again next round
                print(f"bank: {type(exc).__name__}: {exc}", file=sys.stderr)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)


def create_app(bank: Bank) -> Flask:
    app = Flask("bank")

    def error(message: str, status: int = 422) -> tuple[Response, int]:
        return jsonify({"error": {"code": "invalid_request", "message": message}}), status

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.route("/v1/_config", methods=["GET", "POST"])
    def config_route() -> Response | tuple[Response, int]:
        if request.method == "POST":
            try:
                bank.set_config(BankConfig.parse(request.get_json(silent=True)))
            except ValueError as exc:
                return error(str(exc))
        return jsonify(dataclasses.asdict(bank.config))

    @app.post("/v1/_process")
    def process() -> Response:
        return jsonify({"read": bank.process_outbound(), "returned": bank.release_returns()})

    @app.post("/v1/_statements")
    def statements() -> Response | tuple[Response, int]:
        body = request.get_json(silent=True) or {}
        try:
            day = date.fromisoformat(str(body.get("date")))
        except ValueError:
            return error("date must be YYYY-MM-DD")
        return jsonify({"object_name": bank.write_statement(day)})

    @app.post("/v1/_resend")
    def resend() -> Response | tuple[Response, int]:
        body = request.get_json(silent=True) or {}
        prefix = body.get("prefix", "") if isinstance(body, dict) else None
        if not isinstance(prefix, str):
            return error("prefix must be a string")
        return jsonify({"resent": bank.resend(prefix)})

    @app.get("/v1/_state")
    def state() -> Response:
        return jsonify(bank.snapshot())

    @app.post("/v1/_reset")
    def reset() -> Response:
        bank.reset()
        return jsonify({"reset": True})

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stand_ins.bank", description="Bank stand-in (SEPA files)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8293)
    parser.add_argument("--storage-emulator-host", required=True)
    parser.add_argument("--project", default="payouts-local")
    parser.add_argument("--outbound-bucket", required=True)
    parser.add_argument("--inbound-bucket", required=True)
    parser.add_argument("--account-iban", required=True, help="the platform's account at this bank")
    parser.add_argument("--state-file", default=None)
    parser.add_argument("--poll-seconds", type=float, default=0.5)
    parser.add_argument("--config", default=os.environ.get("BANK_CONFIG", "{}"), help="fault config JSON")
    args = parser.parse_args(argv)
    try:
        config = BankConfig.parse(json.loads(args.config))
    except ValueError as exc:
        print(f"bank: bad --config / BANK_CONFIG: {exc}", file=sys.stderr)
        return 2
    settings = Settings(GOOGLE_CLOUD_PROJECT=args.project, STORAGE_EMULATOR_HOST=args.storage_emulator_host)
    store = CloudStorage(settings)
    bank = Bank(store, args.outbound_bucket, args.inbound_bucket, args.account_iban, config, args.state_file)
    worker = Worker(bank, args.poll_seconds)
    server = make_server(args.host, args.port, create_app(bank), threaded=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    print(
        f"bank stand-in on http://{args.host}:{args.port}, files in gs://{args.outbound_bucket}", flush=True
    )
    stop.wait()
    server.shutdown()
    worker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
