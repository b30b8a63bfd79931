"""Which targets an event goes to, and a target's $VARS: from the environment's values file,
else conveyor's environment; masked in every text."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.notify.targets import (
    Expanded,
    UnsetVariable,
    Values,
    every_target,
    notify_variables,
    shown,
    subscribed,
    variables,
)
from conveyor.project.load import Project
from conveyor.settings.check import check_environment
from conveyor.settings.context import open_environment
from conveyor.settings.secrets import MASK
from tests.unit.notify.conftest import config_of

TWO = (
    '[environments.staging]\nhosts = { app = ["local"] }\n'
    '[environments.production]\nhosts = { app = ["local"] }\n'
    'notify = { targets = ["json://ops.example/$OPS_PATH"], on = ["started", "failed"] }\n'
)
SECRET = "Zx8kq2LmP0vR7tY3wQ9nB4cH"


def test_an_environment_s_notify_replaces_the_defaults_key_by_key(tmp_path: Path) -> None:
    config = config_of(tmp_path, 'targets = ["slack://$SLACK_WEBHOOK"]\n', TWO)
    assert subscribed(config, "staging", "failed") == ("slack://$SLACK_WEBHOOK",)
    assert subscribed(config, "staging", "started") == ()  # the default `on`
    assert subscribed(config, "staging", "rolled_back") == ("slack://$SLACK_WEBHOOK",)
    assert subscribed(config, "production", "started") == ("json://ops.example/$OPS_PATH",)
    assert subscribed(config, "production", "rolled_back") == ()
    assert every_target(config, "production") == ("json://ops.example/$OPS_PATH",)


def test_a_list_is_the_targets_and_a_table_without_targets_keeps_the_defaults(
    tmp_path: Path,
) -> None:
    envs = (
        '[environments.staging]\nhosts = { app = ["local"] }\nnotify = ["json://a/x", "json://a/x"]\n'
        '[environments.production]\nhosts = { app = ["local"] }\nnotify = { on = ["succeeded"] }\n'
    )
    config = config_of(tmp_path, 'targets = ["json://default/x"]\n', envs)
    assert subscribed(config, "staging", "failed") == ("json://a/x",)  # once
    assert subscribed(config, "production", "succeeded") == ("json://default/x",)
    assert subscribed(config, "production", "failed") == ()


def test_variables_are_named_bare_or_braced() -> None:
    assert variables("json://$HOST:8080/${HOOK_PATH}/x?token=$T") == ["HOST", "HOOK_PATH", "T"]
    assert variables("slack://T000/B000/literal") == []


def test_the_values_file_comes_first_then_conveyor_s_environment(tmp_path: Path) -> None:
    env_file = tmp_path / ".env.production"
    env_file.write_text(f"HOOK_PATH=from-file\nTOKEN={SECRET}\n")
    values = Values({"production": env_file}, {"HOOK_PATH": "from-environ", "HOST": "h.example"})
    got = values.expand("production", "json://$HOST/${HOOK_PATH}?token=$TOKEN")
    assert got.url == f"json://h.example/from-file?token={SECRET}"
    assert got.secrets == ("h.example", "from-file", SECRET)
    # An environment without a file reads conveyor's environment only.
    assert values.expand("staging", "json://$HOST/x").url == "json://h.example/x"


def test_an_unset_variable_is_named_and_nothing_else_is_said(tmp_path: Path) -> None:
    env_file = tmp_path / ".env.production"
    env_file.write_text(f"TOKEN={SECRET}\n")
    with pytest.raises(UnsetVariable) as raised:
        Values({"production": env_file}, {}).expand("production", "json://h/$TOKEN/$MISSING")
    assert raised.value.message == (
        "$MISSING is not set for production (not in .env.production, not in conveyor's environment)"
    )
    assert raised.value.hint == "set MISSING, then: conveyor notify retry --all"
    with pytest.raises(UnsetVariable, match=r"^\$X is not set for dev \(not in conveyor's "):
        Values({}, {}).expand("dev", "json://h/$X")


def test_masking_hides_the_expanded_url_each_value_and_a_password() -> None:
    expanded = Values({}, {"HOOK": SECRET, "PW": "hunter2-pass"}).expand(
        "production", "json://ops:$PW@127.0.0.1:9/$HOOK"
    )
    said = (
        f"POST {expanded.url} failed; path /{SECRET}, quoted /{SECRET.lower()}x, "
        "password hunter2-pass, encoded hunter2%2Dpass"
    )
    masked = expanded.mask(said)
    assert SECRET not in masked and "hunter2-pass" not in masked
    assert masked.startswith(f"POST json://ops:{MASK}@127.0.0.1:9/$HOOK failed; path /{MASK}")
    # A literal password (no $VAR) is masked too; short values are left alone.
    literal = Values({}, {}).expand("production", "json://ops:pa55word@h/x")
    assert literal.mask("pa55word at json://ops:pa55word@h/x") == (
        f"{MASK} at json://ops:{MASK}@h/{MASK}"
    )
    assert Expanded("json://h/$P", "json://h/abc", ()).mask("abc") == "abc"


def test_a_target_is_shown_as_written_with_a_password_masked() -> None:
    assert shown("slack://$SLACK_WEBHOOK") == "slack://$SLACK_WEBHOOK"
    assert shown("json://ops:s3cret-pass@h/x") == f"json://ops:{MASK}@h/{MASK}"
    assert shown("slack://T0001/B0001/XXXXsecret") == f"slack://T0001/{MASK}/{MASK}"
    assert shown("json://h/$HOOK?token=abc&to=$WHO") == f"json://h/$HOOK?token={MASK}&to=$WHO"


def test_config_check_knows_the_keys_notify_reads_and_hosts_never_get_them(
    tmp_path: Path,
) -> None:
    """A webhook kept in `.env.production` for conveyor is not an unknown key of the app."""
    config = config_of(tmp_path, 'targets = ["slack://$SLACK_WEBHOOK"]\n')
    (tmp_path / ".env.example").write_text("GREETING=hello\n")
    env_file = tmp_path / ".env.production"
    env_file.write_text(f"GREETING=hi\nSLACK_WEBHOOK={SECRET}\nOTHER=1\n")
    env_file.chmod(0o600)
    assert notify_variables(config, "production") == {"SLACK_WEBHOOK"}
    project = Project(root=tmp_path, config_path=tmp_path / "conveyor.toml", config=config)
    schema, env = open_environment(project, "production")
    unknown = [f.key for f in check_environment(schema, env) if f.code == "unknown"]
    assert unknown == ["OTHER"]
