"""The event bus: every subscriber sees each event once, in the order they subscribed."""

from __future__ import annotations

from conveyor.deploy.events import Bus, Event


def test_each_event_goes_to_every_subscriber_in_the_order_they_subscribed() -> None:
    seen: list[tuple[str, str]] = []
    bus = Bus(lambda e: seen.append(("history", e.message)))
    bus.subscribe(lambda e: seen.append(("terminal", e.message)))
    bus(Event("deploy@app-1", "switch", "ok", "Caddy routes to green"))
    bus(Event(None, "watch", "start", "watching for 30s"))
    assert seen == [
        ("history", "Caddy routes to green"),
        ("terminal", "Caddy routes to green"),
        ("history", "watching for 30s"),
        ("terminal", "watching for 30s"),
    ]


def test_a_subscriber_added_later_sees_only_what_follows() -> None:
    early: list[str] = []
    late: list[str] = []
    bus = Bus(lambda e: early.append(e.step))
    bus(Event(None, "upload", "ok", "uploaded"))
    bus.subscribe(lambda e: late.append(e.step))
    bus(Event(None, "venv", "ok", "reused"))
    assert early == ["upload", "venv"]
    assert late == ["venv"]


def test_an_event_is_a_note_without_fields_or_duration_unless_told() -> None:
    event = Event("deploy@app-1", "health", "ok", "web-green answers")
    assert (event.kind, event.seconds, dict(event.fields)) == ("note", None, {})
    assert event.at > 0
    probe = Event(
        "deploy@app-1",
        "health",
        "ok",
        "web-green answers",
        kind="probe",
        seconds=1.5,
        fields={"healthy": True, "port": 8101},
    )
    assert probe.fields["port"] == 8101 and probe.seconds == 1.5
