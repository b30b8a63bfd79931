"""The rules: which literal values are hard-coded configuration, and how bad each is."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from conveyor.settings.scan.model import Severity
from conveyor.settings.secrets import MASK, is_placeholder, mask_url


@dataclass(frozen=True)
class Rule:
    """A rule's id, its severity outside tests, and what it means."""

    id: str
    severity: Severity
    description: str


RULES = {
    rule.id: rule
    for rule in (
        Rule("url-credentials", "high", "connection string with an embedded password"),
        Rule("known-token", "high", "a token in a known format (AWS, GitHub, Slack, ...)"),
        Rule("hard-coded-secret", "high", "a literal assigned to a secret-like name"),
        Rule("dev-host-url", "medium", "a URL pointing at a development or private host"),
        Rule("hard-coded-host", "medium", "a literal host name assigned to a host setting"),
        Rule("hard-coded-port", "medium", "a literal port number assigned to a port setting"),
        Rule("hard-coded-url", "low", "a literal service URL assigned to a URL setting"),
        Rule("ignore-without-reason", "medium", "a conveyor: ignore comment without a reason"),
    )
}
DB_SCHEMES = re.compile(
    r"(postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|oracle|cockroachdb)"
    r"(?:\+[a-z0-9_]+)?",
    re.IGNORECASE,
)
URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^\s'\"<>`]+")
TOKENS = re.compile(
    r"(?:A3T[A-Z0-9]|AKIA|ASIA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{36}|github_pat_\w{60,}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}|hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"
    r"|[sr]k_live_[A-Za-z0-9]{20,}|sk-(?:proj-)?[A-Za-z0-9_-]{32,}|AIza[0-9A-Za-z_-]{35}"
    r"|-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----|eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\."
)
_DEV_NAMES = frozenset({"localhost", "host.docker.internal", "0.0.0.0", "::1"})
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
# The last part of a name decides: API_KEY and DB_PASSWORD are secrets, API_KEY_HEADER is not.
_SECRET_LAST = frozenset(
    {"PASSWORD", "PASSWD", "PWD", "PASS", "SECRET", "TOKEN", "KEY", "APIKEY", "CREDENTIALS"}
)
_PASSWORD_LAST = frozenset({"PASSWORD", "PASSWD", "PWD", "PASS"})
_URL_NAME = re.compile(r"(?:^|_)(URL|URI|DSN|ENDPOINT|BROKER|BACKEND)$")
# A value made of a reference to something else is not a hard-coded value.
_REFERENCE = re.compile(r"\$\{|\{\{|%\([^)]*\)s|\{[^{}]*\}|^\$[A-Za-z_]|<[^<>]*>")


@dataclass(frozen=True)
class Match:
    """A rule that a value breaks."""

    rule: str
    value: str


def _parts(name: str) -> list[str]:
    return [part for part in re.split(r"[^A-Z0-9]+", name.upper()) if part]


def is_secret_target(name: str) -> bool:
    """True when a name's last part says it holds a secret (DB_PASSWORD, SECRET_KEY)."""
    parts = _parts(name)
    return bool(parts) and (parts[-1] in _SECRET_LAST or parts[-1].endswith("PASSWORD"))


def is_dev_host(host: str) -> bool:
    """True for localhost, loopback, unspecified, Docker's host alias and private ranges."""
    host = host.strip("[]").lower()
    if host in _DEV_NAMES or host.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_unspecified


def is_reference(value: str) -> bool:
    """True for placeholders and references: `${X}`, `{x}`, `<x>`, `%(x)s`, `changeme`."""
    return is_placeholder(value) or bool(_REFERENCE.search(value))


def classify_url(url: str) -> str | None:
    """The rule a URL breaks: credentials inside, or a development host; None when clean."""
    try:
        parts = urlsplit(url)
        password, host = parts.password, parts.hostname
    except ValueError:
        return None
    if password and not is_reference(password) and password != MASK:
        return "url-credentials"
    if host and not is_reference(host) and is_dev_host(host):
        return "dev-host-url"
    return None


def classify(name: str | None, value: str, *, is_int: bool = False) -> Match | None:
    """The rule a literal assigned to `name` breaks, or None."""
    if is_int:
        if name and _parts(name)[-1:] == ["PORT"] and 0 < int(value) < 65536:
            return Match("hard-coded-port", value)
        return None
    text = value.strip()
    if not text:
        return None
    token = TOKENS.search(text)
    if token:
        return Match("known-token", token.group(0))
    whole = URL.fullmatch(text)
    if whole:
        rule = classify_url(text)
        if rule:
            return Match(rule, text)
    else:
        for found in URL.finditer(text):
            if classify_url(found.group(0)) == "url-credentials":
                return Match("url-credentials", found.group(0))
    if not name:
        return None
    return _by_name(name, text, whole is not None)


def _by_name(name: str, text: str, is_url: bool) -> Match | None:
    """Rules that depend on the name the value is given."""
    parts = _parts(name)
    if not parts or is_reference(text):
        return None
    if is_url:
        return Match("hard-coded-url", text) if _URL_NAME.search("_".join(parts)) else None
    if is_secret_target(name):
        if parts[-1] in _PASSWORD_LAST or parts[-1].endswith("PASSWORD"):
            return Match("hard-coded-secret", text)
        # Other secret names (TOKEN_TYPE = "bearer") need a value that could be a secret.
        strong = len(text) >= 16 or (len(text) >= 8 and bool(re.search(r"\d", text)))
        return Match("hard-coded-secret", text) if strong and " " not in text else None
    host_name = parts[-1] in ("HOST", "HOSTNAME", "SERVER")
    if host_name and _HOSTNAME.fullmatch(text) and ("." in text or is_dev_host(text)):
        return Match("hard-coded-host", text)
    if parts[-1] == "PORT" and text.isdigit() and 0 < int(text) < 65536:
        return Match("hard-coded-port", text)
    return None


def masked(rule: str, value: str) -> str:
    """What may be shown of a finding's value."""
    if rule == "url-credentials":
        return mask_url(value)
    if rule == "known-token":
        return value[:4] + MASK
    if rule == "hard-coded-secret":
        return MASK
    return value


def severity_for(rule: str, *, in_tests: bool) -> Severity:
    """A rule's severity; everything in tests and fixtures is low."""
    return "low" if in_tests else RULES[rule].severity
