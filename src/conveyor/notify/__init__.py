"""Notifications: each deploy, rollback, recovery and approval event, told through apprise.

Never lost, never sent twice by two senders: a message is written to the history's outbox
(`outbox.py`) in the same transaction as the record it tells of, then delivered at least once
by `sender.py` (oldest first, in order per deploy and target, honouring Retry-After, backing
off, a dead letter after `Policy.max_attempts`). `notices.py` decides what is said to whom
(from conveyor.toml), `messages.py` how, `targets.py` expands a target's $VARS only when it
is sent and masks them everywhere, and `delivery.py` is the one place that calls apprise.
Imports without typer or rich; apprise loads only when something is sent.
"""
