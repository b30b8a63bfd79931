"""Which values are secrets, how to mask them, and when one is weak or a placeholder."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from urllib.parse import urlsplit

MASK = "********"

# A key is secret when one of these words is one of its parts (DB_PASSWORD, JWT_SECRET_KEY,
# API_TOKEN, SENTRY_DSN); KEY alone matches API_KEY but not KEYBOARD_LAYOUT or MONKEY.
_SECRET_PARTS = frozenset({"PASSWORD", "PASSWD", "PWD", "PASS", "SECRET", "TOKEN", "KEY", "DSN"})
_SECRET_PARTS |= frozenset({"CREDENTIALS", "PRIVATE", "APIKEY", "PASSPHRASE", "SALT"})

_PLACEHOLDER = re.compile(
    r"""^(<[^<>]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|%\([^)]*\)s|x{3,}|\.\.\.|todo|tbd|fixme
        |changeme|change[-_ ]?me|replace[-_ ]?me|your[-_].*|example|placeholder)$""",
    re.IGNORECASE | re.VERBOSE,
)
# Words that give away a value meant for a laptop, not for a server.
_WEAK_WORDS = ("change", "dev", "test", "example", "default", "secret", "password", "admin")
_COMMON = frozenset(
    {
        "123456",
        "12345678",
        "123456789",
        "password",
        "password1",
        "passw0rd",
        "admin",
        "admin123",
        "root",
        "toor",
        "qwerty",
        "letmein",
        "welcome",
        "secret",
        "postgres",
        "guest",
        "test",
        "changeit",
    }
)
MIN_SECRET_LENGTH = 16
# 64 bits against a guesser who knows which kinds of characters a value uses: 16 characters of
# letters and digits pass (a random 16-character password is ~95 bits), 16 digits do not.
# Total Shannon entropy only catches repetition ("aaaa", "abab"): measured against 64 bits it
# rejected random 16-character passwords, whose maximum is 64 bits with no repeat at all.
MIN_GUESS_BITS = 64
MIN_SPREAD_BITS = 40
_KINDS: tuple[tuple[Callable[[str], bool], int], ...] = (
    (lambda c: c.isascii() and c.islower(), 26),
    (lambda c: c.isascii() and c.isupper(), 26),
    (lambda c: c.isascii() and c.isdigit(), 10),
    (lambda c: c.isascii() and not c.isalnum(), 33),
    (lambda c: not c.isascii(), 100),
)
GENERATE_HINT = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
# Types whose values are never secret, whatever the key is called: a number of minutes, a flag.
_NEVER_SECRET_TYPES = frozenset({"int", "float", "bool", "port", "choice"})
# A mark is a whole item of the comment ("# port, not secret"), never a phrase inside one:
# "# not secret-manager managed" must not unmask a password.
_NOT_SECRET_MARK = re.compile(r"not[\s_-]+(a[\s_-]+)?secret", re.IGNORECASE)
_SECRET_MARK = re.compile(r"secret", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """True when the key's name says it holds a secret."""
    upper = name.upper()
    parts = re.split(r"[^A-Z0-9]+", upper)
    return any(part in _SECRET_PARTS for part in parts) or upper.endswith(("PASSWORD", "APIKEY"))


def secret_mark(comment: str | None) -> bool | None:
    """What a `.env.example` comment says: `# secret` True, `# not secret` False, else None."""
    if comment is None:
        return None
    items = [item.strip().lstrip("#").strip() for item in re.split(r"[,;]", comment)]
    if any(_NOT_SECRET_MARK.fullmatch(item) for item in items):
        return False
    return True if any(_SECRET_MARK.fullmatch(item) for item in items) else None


def decide_secret(name: str, type_name: str, *, mark: bool | None = None) -> bool:
    """Whether a setting is secret: its declared type first, then a mark, then its name."""
    if type_name == "secret":
        return True
    if type_name in _NEVER_SECRET_TYPES:
        return False
    return mark if mark is not None else is_secret_name(name)


def url_has_credentials(value: str) -> bool:
    """True for URLs with a password in them (postgresql://user:pw@host/db)."""
    if "://" not in value:
        return False
    try:
        return bool(urlsplit(value).password)
    except ValueError:
        return False


def url_password(value: str) -> str | None:
    """The password inside a URL, if any."""
    if "://" not in value:
        return None
    try:
        return urlsplit(value).password
    except ValueError:
        return None


def is_secret(name: str, value: str, *, declared: bool | None = None) -> bool:
    """True when the value must never be printed; `declared` is the schema's decision, if any."""
    if declared is not None:
        return declared or url_has_credentials(value)
    return is_secret_name(name) or url_has_credentials(value)


def mask_url(value: str) -> str:
    """A URL with its password replaced by the mask: postgresql://admin:********@db/app."""
    password = url_password(value)
    if not password:
        return value
    return value.replace(f":{password}@", f":{MASK}@", 1)


def mask(name: str, value: str, *, declared: bool | None = None) -> str:
    """What may be shown of a value: URLs keep all but the password, other secrets nothing."""
    if url_has_credentials(value):
        return mask_url(value)
    if is_secret(name, value, declared=declared):
        return MASK if value else ""
    return value


def is_placeholder(value: str) -> bool:
    """True for template values left in place: `<DB_HOST>`, `${X}`, `changeme`."""
    stripped = value.strip()
    return bool(stripped) and bool(_PLACEHOLDER.match(stripped))


def shannon_bits(value: str) -> float:
    """Total Shannon entropy of the value, in bits."""
    if not value:
        return 0.0
    counts = Counter(value)
    per_char = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return per_char * len(value)


def weakness(value: str) -> str | None:
    """Why a secret value is weak, or None when it looks strong enough for production."""
    lowered = value.lower()
    if lowered in _COMMON:
        return "is a well-known password"
    for word in _WEAK_WORDS:
        if word in lowered:
            return f'contains "{word}", which marks a development value'
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    if shannon_bits(value) < MIN_SPREAD_BITS:
        return f"is too predictable (it repeats a few characters); {GENERATE_HINT}"
    if guess_bits(value) < MIN_GUESS_BITS:
        return (
            f"is too predictable (under {MIN_GUESS_BITS} bits: make it longer or mix letters, "
            f"digits and symbols); {GENERATE_HINT}"
        )
    return None


def guess_bits(value: str) -> float:
    """Bits a guesser needs for a value this long, of the kinds of characters it uses."""
    pool = sum(size for kind, size in _KINDS if any(kind(c) for c in value))
    return len(value) * math.log2(pool) if pool > 1 else 0.0
