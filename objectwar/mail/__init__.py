"""The mail core: the rules of sending, in one place, for every email the app sends.

It knows no domain (it imports none of them); each domain composes its own
messages, next to the feature that sends them, and hands them to the core:

* :mod:`~objectwar.mail.message`: composing from templates, the SMTP connection,
  sending, and the one classification of SMTP errors (:class:`~objectwar.mail.message.SendError`);
* :mod:`~objectwar.mail.verp`: the signed envelope sender (and Message-IDs) by which
  a bounce or complaint report names what it is about;
* :mod:`~objectwar.mail.claims`: how a worker takes, holds (the lease) and lets go of
  an email's row; :mod:`~objectwar.mail.retry`: when a failed email is tried again;
* :mod:`~objectwar.mail.rows`: rows that are their own outbox (confirmations);
* :mod:`~objectwar.mail.notices`: the outbox of one-off emails; each kind's composer
  is registered by its domain (``accounts/emails.py``, ``organisations/emails.py``,
  ``privacy/emails.py``, ``mailouts/emails.py``).

Mail-outs' deliveries (``mailouts/send.py``) use the same claims, retry rule,
connection and error classification.
"""
