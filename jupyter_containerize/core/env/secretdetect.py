"""Which strings are secrets: one line at a time, by the detect-secrets plugins, our own
patterns for services they do not know, and the rules that tell a secret from a placeholder,
a word or an id (see :mod:`.secretscan` for how files and notebooks are read)."""

from __future__ import annotations

import re
from typing import Any

ALLOW_MARKER = "containerize: allow-secret"

# what a saved output or a file of the project must never hold (also used to redact reports)
SECRET_PATTERNS = {
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
    "API key (sk-)": re.compile(r"\bsk-(?:proj-|live-|test-)?[A-Za-z0-9]{20,}\b"),
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "bearer token": re.compile(r"\bBearer\s+[A-Za-z0-9._\-]{24,}"),
}

# Lowercase literals that every detected secret contains or sits next to. A line without any
# of them is never handed to the detectors.
NEEDLES: tuple[bytes, ...] = (
    # service token prefixes (a private key block, an Azure or npm key, a webhook URL hold
    # "key", "token" or "://" already)
    b"akia", b"asia", b"abia", b"acca", b"a3t", b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_",
    b"github_pat_", b"glpat-", b"gldt-", b"glrt-", b"glptt-", b"glft-", b"glsoat-", b"glcbt-",
    b"glimt-", b"glagent-", b"gloas-", b"gr1348941", b"xox", b"sk_live", b"rk_live", b"eyj",
    b"://", b"sk-", b"pypi-", b"sg.", b"sq0", b"hf_", b"aiza", b"bearer", b"-us", b"akc",
    # words a secret is assigned to
    b"pass", b"pwd", b"secret", b"key", b"token", b"auth", b"cred", b"contrase",
)

# words a secret is assigned to
_KEYWORDS = ("pass", "pwd", "secret", "key", "token", "auth", "cred", "contrase", "bearer")
# an assignment to a secret-sounding name: only there do high-entropy strings count
_ASSIGNED = re.compile(
    r"(?:(?<![A-Za-z0-9])|(?<=[a-z])(?=[A-Z]))"  # a word's start, or camelCase's next word
    r"(?i:token|secret|passw|pwd|api_?key|access_?key|private_?key|auth|cred|bearer|"
    r"signature|session_?key|client_?key)\w*[\]'\"]{0,2}\s*(?::=|=>|[:=])"
)
# hashes of a lock file or an integrity attribute, named as such
_HASH_VALUE = re.compile(r"(?i)(?:sha1|sha224|sha256|sha384|sha512|md5)[-:=]")
_PLACEHOLDERS = {
    "none", "null", "nil", "true", "false", "undefined", "required", "optional", "string",
    "str", "password", "secret", "example", "placeholder", "redacted", "changeme", "xxxxxx",
}

# detect-secrets' names, as our messages spell them
KINDS = {
    "AWS Access Key": "AWS access key",
    "Private Key": "private key",
    "GitHub Token": "GitHub token",
    "GitLab Token": "GitLab token",
    "Slack Token": "Slack token",
    "Stripe Access Key": "Stripe key",
    "JSON Web Token": "JSON web token",
    "Basic Auth Credentials": "password in a URL",
    "Secret Keyword": "secret assigned to a secret-sounding name",
    "Base64 High Entropy String": "high-entropy string assigned to a secret-sounding name",
    "Hex High Entropy String": "high-entropy hex string assigned to a secret-sounding name",
    "NPM tokens": "npm token",
    "OpenAI Token": "OpenAI key",
    "PyPI Token": "PyPI token",
    "SendGrid API Key": "SendGrid key",
}

# values that are words or names, not secrets: lowercase words or identifiers ("utf-8"),
# words with spaces ("Telegram Bot Token"), CamelCase names ("MyTestDatabaseSecret"), dotted
# paths ("pkg.module:Class")
_WORDS = re.compile(
    r"[a-z][a-z_. -]*|[A-Za-z]+(?: [A-Za-z]+)+|(?:[A-Z][a-z]+)+"
    r"|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?::[A-Za-z_][\w.]*)?"
)

# ours, for services the detectors above do not know
_EXTRA = {
    **{kind: SECRET_PATTERNS[kind]
       for kind in ("Hugging Face token", "Google API key", "API key (sk-)")},
    "GitHub token": re.compile(r"\bgithub_pat_[A-Za-z0-9_]{60,}"),
    "bearer token": re.compile(r"\bBearer\s+(?=[A-Za-z._\-]*\d)[A-Za-z0-9._\-]{24,}"),
}


class _Detectors:
    """The detect-secrets plugins, created once."""

    def __init__(self) -> None:
        from detect_secrets.plugins.artifactory import ArtifactoryDetector
        from detect_secrets.plugins.aws import AWSKeyDetector
        from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
        from detect_secrets.plugins.basic_auth import BasicAuthDetector
        from detect_secrets.plugins.cloudant import CloudantDetector
        from detect_secrets.plugins.discord import DiscordBotTokenDetector
        from detect_secrets.plugins.github_token import GitHubTokenDetector
        from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
        from detect_secrets.plugins.high_entropy_strings import (
            Base64HighEntropyString,
            HexHighEntropyString,
        )
        from detect_secrets.plugins.ibm_cloud_iam import IbmCloudIamDetector
        from detect_secrets.plugins.ibm_cos_hmac import IbmCosHmacDetector
        from detect_secrets.plugins.jwt import JwtTokenDetector
        from detect_secrets.plugins.keyword import DENYLIST_REGEX as KEYWORD_DENYLIST
        from detect_secrets.plugins.keyword import KeywordDetector
        from detect_secrets.plugins.mailchimp import MailchimpDetector
        from detect_secrets.plugins.npm import NpmDetector
        from detect_secrets.plugins.openai import OpenAIDetector
        from detect_secrets.plugins.private_key import PrivateKeyDetector
        from detect_secrets.plugins.pypi_token import PypiTokenDetector
        from detect_secrets.plugins.sendgrid import SendGridDetector
        from detect_secrets.plugins.slack import SlackDetector
        from detect_secrets.plugins.softlayer import SoftlayerDetector
        from detect_secrets.plugins.square_oauth import SquareOAuthDetector
        from detect_secrets.plugins.stripe import StripeDetector
        from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector
        from detect_secrets.plugins.twilio import TwilioKeyDetector

        words = _KEYWORDS
        self.basic_auth = BasicAuthDetector()
        # each detector with the lowercase literals a line needs for it to be worth a try
        self.exact: list[tuple[Any, tuple[str, ...]]] = [
            (AWSKeyDetector(), ("akia", "asia", "abia", "acca", "a3t", "aws")),
            (PrivateKeyDetector(), ("private key", "putty-user-key")),
            (GitHubTokenDetector(), ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
            (GitLabTokenDetector(), ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-",
                                     "gr1348941", "glcbt-", "glimt-", "glptt-", "glagent-",
                                     "gloas-")),
            (SlackDetector(), ("xox", "hooks.slack.com")),
            (StripeDetector(), ("sk_live_", "rk_live_")),
            (JwtTokenDetector(), ("eyj",)),
            (self.basic_auth, ("://",)),
            (ArtifactoryDetector(), ("akc", "artifactory", *words)),
            (AzureStorageKeyDetector(), ("accountkey=",)),
            (NpmDetector(), ("_authtoken",)),
            (OpenAIDetector(), ("t3blbkfj",)),
            (PypiTokenDetector(), ("pypi-",)),
            (SendGridDetector(), ("sg.",)),
            (SquareOAuthDetector(), ("sq0csp-",)),
            (MailchimpDetector(), ("-us",)),
            (DiscordBotTokenDetector(), ("discord", *words)),
            (TelegramBotTokenDetector(), ("telegram", "bot", *words)),
            (TwilioKeyDetector(), ("twilio", *words)),
            (IbmCloudIamDetector(), ("ibm", "iam", "cloud")),
            (IbmCosHmacDetector(), ("cos", "hmac")),
            (SoftlayerDetector(), ("softlayer", "sl")),
            (CloudantDetector(), ("cloudant", "cl")),
        ]
        self.keyword = KeywordDetector()
        self.keyword_gate = re.compile(KEYWORD_DENYLIST, re.IGNORECASE)
        literals = {n for _, needles in self.exact for n in needles} | set(_KEYWORDS)
        literals |= {"hf_", "aiza", "sk-", "github_pat_", "bearer"}  # for _EXTRA
        # every literal in the line, overlapping ones too
        self.gate = re.compile("(?=(" + "|".join(
            re.escape(n) for n in sorted(literals, key=len, reverse=True)) + "))")
        self.entropy: list[Any] = [Base64HighEntropyString(limit=4.5),
                                   HexHighEntropyString(limit=3.0)]


_detectors: _Detectors | None = None


def _get_detectors() -> _Detectors:
    global _detectors
    if _detectors is None:
        _detectors = _Detectors()
    return _detectors


def redact(value: str) -> str:
    """A short prefix of ``value`` and an ellipsis: never enough to use it."""
    keep = min(4, len(value) // 4)
    return (value[:keep] + "…") if keep else "…"


def _guessable(value: str, line: str) -> bool:
    """True when a keyword or entropy hit is a placeholder, a reference or an id."""
    from detect_secrets.filters import heuristic as h

    v = value.strip()
    if len(v) < 6 or v.lower() in _PLACEHOLDERS or _WORDS.fullmatch(v):
        return True
    if _HASH_VALUE.match(v):
        return True
    return bool(
        h.is_sequential_string(v) or h.is_potential_uuid(v) or h.is_likely_id_string(v, line)
        or h.is_templated_secret(v) or h.is_prefixed_with_dollar_sign(v)
        or h.is_indirect_reference(line) or h.is_not_alphanumeric_string(v)
    )


def scan_line(line: str, filename: str = "file.txt") -> list[tuple[str, str]]:
    """[(kind, redacted)] of the first secret found in one line (the most specific detector
    wins), or []; ``filename`` picks the keyword rules (Python, YAML, ...)."""
    if ALLOW_MARKER in line.lower():
        return []
    det = _get_detectors()
    low = line.lower()
    present = set(det.gate.findall(low))
    if not present:
        return []
    for plugin, needles in det.exact:
        if present.isdisjoint(needles):
            continue
        for secret in plugin.analyze_line(filename=filename, line=line, line_number=1):
            value = secret.secret_value or ""
            if plugin is det.basic_auth and _guessable(value, ""):
                continue  # user:{password}@, user:***@, user:pass@ in docs
            if "EXAMPLE" in value:
                continue  # a vendor's documented sample (AKIAIOSFODNN7EXAMPLE)
            return [(_kind(secret.type), redact(value))]
    for kind, pattern in _EXTRA.items():
        m = pattern.search(line)
        if m:
            return [(kind, redact(m.group(0)))]
    if present.isdisjoint(_KEYWORDS):
        return []
    candidates: list[Any] = []
    if det.keyword_gate.search(line):
        candidates += det.keyword.analyze_line(filename=filename, line=line, line_number=1)
    if _ASSIGNED.search(line):
        for plugin in det.entropy:
            candidates += plugin.analyze_line(filename=filename, line=line, line_number=1)
    for secret in candidates:
        value = secret.secret_value or ""
        if not _guessable(value, line):
            return [(_kind(secret.type), redact(value))]
    return []


def _kind(secret_type: str) -> str:
    return KINDS.get(secret_type, secret_type)
