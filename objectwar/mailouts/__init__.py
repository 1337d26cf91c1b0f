"""Mail-outs: one message to the people of a list, one row per recipient, sent by workers.

The rows are the record (DESIGN.md principle 1); the queue only carries the
mail-out's id. Each file has one job:

* ``status``: the one state machine (``draft → scheduled → sending ⇄ paused →
  sent / cancelled``, :func:`~objectwar.mailouts.status.transition`), the counters
  and the progress;
* ``editing``: checking, creating, updating, duplicating and scheduling a mail-out;
* ``compose``: rendering, sender, Reply-To, previews, the test mail, and the frozen
  ``Snapshot`` each run sends from;
* ``claiming``: claiming due deliveries within the throttle;
* ``send``: one task's run (claim, send, mark each recipient, count, pause);
* ``sweep``: starting (the deliveries of the audience), finishing, the periodic sweep;
* ``queries``: the reads, and the raw SQL of the hot path.

How the sending holds together:

* ``sweep.start_sending`` creates every recipient's ``Delivery`` in ONE
  ``INSERT ... SELECT`` (``ON CONFLICT DO NOTHING``, so a repeat adds no one).
* ``send.run`` (the ``deliver_batch`` task) claims small batches and sends them.
  A claim is one short transaction that locks the mail-out's row
  (``SELECT ... FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite),
  re-reads its status, puts rows whose claim lapsed back to pending (a killed
  worker), spends tokens of the throttle and marks due rows ``sending`` under a
  token of its own (``FOR UPDATE SKIP LOCKED`` on PostgreSQL). The claim rule is
  the one of every email row (``mail.claims``).
* A worker sends a row only while it holds it: right before each message one
  statement renews the row's claim and checks that it still carries the
  worker's token and that the mail-out is still sending (pause and cancel stop
  it before the next message); every third of the lease it renews the whole
  claim. A claim takes no more rows than the worker sends in a third of the
  lease (``claiming.ClaimSize``), so a slow relay or a busy machine never lets
  another worker take over rows a live one still holds.
* The throttle is a token bucket in the mail-out's row (``throttle_tokens``,
  refilled at ``rate_per_minute / 60`` per second since ``throttle_at``). It
  starts with one token at start and at resume and holds about one second of
  sending at most, so at any moment a mail-out has sent at most
  ``1 + seconds × rate_per_minute / 60`` messages, across all workers on any
  database; a claim's messages are spaced at that rate. A relay that cannot be
  reached moves ``throttle_at`` into the future: every worker backs off together.
* Each recipient is committed ``sent`` right after the relay's 250, under the
  claim it was sent with, so a duplicate needs a worker killed between those
  two moments: at most one per killed worker thread. The Message-ID is the
  same for every attempt at one delivery. The same statement holds the next
  recipient and reads its subscription (``queries.sent_and_hold_sql``), so an unsubscribe
  stops the very next message; ``lists.unsubscribe`` also skips the person's
  pending rows at once.
* Each run builds a frozen snapshot of the mail-out once (``compose.snapshot``: each
  locale's ``mailer.RawTemplate``) and only substitutes name, unsubscribe URL, To and
  Message-ID per recipient; it never calls back into the editing or status code for one.
* Chains of ``deliver_batch`` tasks can be lost with a killed worker: the
  periodic ``sweep.sweep`` re-queues sending mail-outs nobody claimed from or
  sent for ``SWEEP_IDLE_SECONDS`` that still have due rows, and finishes those
  with nothing left.
* 4xx answers and lost connections return rows to pending with a delay from
  ``MAIL_RETRY_SECONDS`` doubling per attempt (``mail.retry``); 5xx answers fail the delivery,
  and one to the recipient's address is a hard bounce (``bounces``); ``ERROR_LIMIT`` errors
  in a row, or rates of bounces and complaints past ``bounces.pause_reason``'s, pause the
  mail-out and tell its coordinator (a notice in the outbox, written with the pause).
* Each message's envelope sender names its delivery (``objectwar.mail.verp``), as its
  Message-ID does: the reports that come back after the 250 find it (``reports``).

Optional settings (``app.config``, defaults in code): ``MAILOUT_BATCH_SIZE`` (200),
``MAILOUT_CHAINS`` (4 parallel task chains per mail-out, in ``tasks.py``),
``MAILOUT_ASYNC_COMMIT`` (on; see ``send.Marks``) and ``UNSUBSCRIBE_MAILBOX``
(the mailto of ``List-Unsubscribe``, see ``mailing.unsubscribe.unsubscribe_mailbox``; the
``unsubscribe-mail`` command reads what arrives there).
"""
