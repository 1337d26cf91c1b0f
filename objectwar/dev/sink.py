"""A development mail sink: an SMTP server on loopback that keeps every message.

``make run`` starts it; each message is written to the instance folder's
``outbox/`` as an ``.eml`` file, which ``/dev/outbox`` lists.
"""

from __future__ import annotations

import os
import time
import uuid

from aiosmtpd.controller import Controller


class OutboxHandler:
    """aiosmtpd handler that writes each message to a folder."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        os.makedirs(folder, exist_ok=True)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        path = os.path.join(self.folder, name)
        with open(path + ".part", "wb") as handle:
            handle.write(envelope.original_content or envelope.content)
        os.replace(path + ".part", path)
        return "250 Message accepted for delivery"


def start_sink(folder: str, host: str = "127.0.0.1", port: int = 8025) -> Controller:
    """Start the sink in a background thread; call ``.stop()`` on the result."""
    controller = Controller(OutboxHandler(folder), hostname=host, port=port, enable_SMTPUTF8=True)
    controller.start()
    return controller
