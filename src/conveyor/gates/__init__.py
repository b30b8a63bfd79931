"""The gates before a production deploy: approvals signed with SSH keys and bound to a
plan's digest (`approval.py`, `signing.py`), their policy (`policy.py`), freeze windows
(`freeze.py`), the automatic gates (`automatic.py`), where requests live (`requests.py`)
and how a deploy passes through them (`flow.py`)."""
