"""`conveyor config diff A B`: how two environments' files differ, without showing secrets."""

from __future__ import annotations

from dataclasses import dataclass

from conveyor.settings.envfile import EnvFile
from conveyor.settings.schema import SettingsSchema
from conveyor.settings.secrets import is_secret, mask


@dataclass(frozen=True)
class Difference:
    """One key that differs; values are already masked where secret."""

    key: str
    kind: str  # "only-a", "only-b", "differs", "shared-secret"
    a: str | None
    b: str | None


def diff_environments(schema: SettingsSchema, a: EnvFile, b: EnvFile) -> list[Difference]:
    """Keys only in A, only in B, values that differ, and secrets that are the same in both."""
    out: list[Difference] = []
    a_values, b_values = a.values(), b.values()
    for key in sorted(set(a_values) | set(b_values)):
        field = schema.get(key)
        declared = field.secret if field else None
        in_a, in_b = a_values.get(key), b_values.get(key)
        secret = any(v is not None and is_secret(key, v, declared=declared) for v in (in_a, in_b))
        if in_b is None and in_a is not None:
            out.append(Difference(key, "only-a", _show(key, in_a, secret), None))
        elif in_a is None and in_b is not None:
            out.append(Difference(key, "only-b", None, _show(key, in_b, secret)))
        elif secret and in_a == in_b and in_a:
            out.append(Difference(key, "shared-secret", "<secret, same>", "<secret, same>"))
        elif in_a != in_b:
            if secret:
                out.append(Difference(key, "differs", "<secret, differs>", "<secret, differs>"))
            else:
                out.append(Difference(key, "differs", in_a, in_b))
    return out


def _show(key: str, value: str, secret: bool) -> str:
    # A URL keeps all but its password; any other secret shows nothing.
    return mask(key, value, declared=secret)
