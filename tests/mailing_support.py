"""The mailing tests' scriptable SMTP server (their data comes from tests/factories.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller

from tests.conftest import free_port


@dataclass
class Relay:
    """An aiosmtpd server on loopback that keeps what it receives and answers as told.

    ``answers`` maps a recipient address to the reply of its RCPT (e.g. ``"550 no such user"``);
    ``answer_all`` answers every RCPT so (unless the address is in ``accept``);
    ``on_message`` is called (in the server's thread) after each accepted message;
    ``delay`` seconds pass before each message's 250 (a slow relay: other sessions go on meanwhile).
    ``received_at`` holds the ``time.time()`` of each accepted message, ``senders`` its
    envelope sender (MAIL FROM).
    """

    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    messages: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    answers: dict[str, str] = field(default_factory=dict)
    answer_all: str | None = None
    accept: set[str] = field(default_factory=set)
    on_message: Callable[[EmailMessage], None] | None = None
    delay: float = 0.0
    received_at: list[float] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)
    parse: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: N802
        answer = self.answers.get(address)
        if answer is None and self.answer_all and address not in self.accept:
            answer = self.answer_all
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        if self.delay:
            await asyncio.sleep(self.delay)
        content = envelope.original_content or envelope.content
        parsed = BytesParser(policy=policy.default).parsebytes(content) if self.parse else None
        with self.lock:
            self.raw.append(content)
            self.received_at.append(time.time())
            self.senders.append(envelope.mail_from)
            if parsed is not None:
                self.messages.append(parsed)
        if self.on_message is not None and parsed is not None:
            self.on_message(parsed)
        return "250 OK"

    def start(self) -> Relay:
        self.controller = Controller(self, hostname=self.host, port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def config(self) -> dict[str, Any]:
        return {"MAIL_SERVER": self.host, "MAIL_PORT": self.port, "MAIL_SUPPRESS_SEND": False,
                "MAIL_USE_TLS": False, "MAIL_USE_SSL": False}

    def count(self) -> int:
        with self.lock:
            return len(self.raw)

    def recipients(self) -> Counter:
        """How many messages each To address received."""
        with self.lock:
            return Counter(message["To"].addresses[0].addr_spec for message in self.messages)

    def message_ids(self) -> Counter:
        with self.lock:
            return Counter(message["Message-ID"] for message in self.messages)

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < count and time.monotonic() < deadline:
            time.sleep(0.05)

