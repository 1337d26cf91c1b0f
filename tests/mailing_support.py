"""Helpers of the mailing tests: a scriptable SMTP server and test data."""

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

from objectwar import security
from objectwar.extensions import db
from objectwar.mailing.models import MailingList, Subscriber, Subscription, SubscriptionStatus
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


def address(index: int) -> str:
    return f"person{index:05d}@example.org"


def make_list(count: int, *, slug: str = "updates", locale: str = "en", country: str = "DE",
              name: Callable[[int], str | None] = lambda i: f"Person {i}",
              status: SubscriptionStatus = SubscriptionStatus.SUBSCRIBED) -> MailingList:
    """A list with ``count`` subscribers (inside an app context); commits."""
    mailing_list = MailingList(slug=slug, name=f"List {slug}", public=True)
    db.session.add(mailing_list)
    db.session.flush()
    add_subscribers(mailing_list, range(count), locale=locale, country=country, name=name, status=status)
    db.session.commit()
    return mailing_list


def add_subscribers(mailing_list: MailingList, indexes, *, locale: str = "en", country: str = "DE",
                    name: Callable[[int], str | None] = lambda i: f"Person {i}",
                    status: SubscriptionStatus = SubscriptionStatus.SUBSCRIBED) -> list[Subscriber]:
    people = []
    for index in indexes:
        subscriber = Subscriber(email_digest=security.email_digest(address(index)),
                                email=address(index), name=name(index), locale=locale,
                                country=country)
        people.append(subscriber)
    db.session.add_all(people)
    db.session.flush()
    db.session.add_all([
        Subscription(list_id=mailing_list.id, subscriber_id=person.id, status=status, source="test")
        for person in people
    ])
    db.session.flush()
    return people
