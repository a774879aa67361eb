"""Alert transports: Slack incoming webhook, generic JSON webhook and e-mail over SMTP, through the Airflow provider
hooks, plus the redaction that keeps webhook URLs and passwords out of every log line and error message.

One :class:`Channel` per configured ``alert_channels`` entry. ``Channel.send(payload)`` makes **one** attempt and
raises :class:`SendError` (``retryable`` or not, with the server's ``Retry-After`` when it sent one); the retry loop,
the exactly-once bookkeeping and the rendering of the payloads live in :mod:`openfinops.alerts` and
:mod:`openfinops.alert_messages`.

Which provider piece is used, and why:

* Slack: ``SlackWebhookHook`` (apache-airflow-providers-slack) resolves the connection into a
  ``slack_sdk.WebhookClient``; we post with that client so that the HTTP status and the ``Retry-After`` header of a
  429 are ours to act on (the hook's ``send`` only raises a generic error). slack_sdk's own retry handlers are
  turned off: one retry policy, ours.
* Webhook: ``HttpHook`` (apache-airflow-providers-http) with ``check_response`` off, for the same reason.
* E-mail: ``SmtpHook`` (apache-airflow-providers-smtp) opens the session (SSL / STARTTLS / login as the connection
  says); its ``send_email_smtp`` only builds HTML mails, so a plain-text ``EmailMessage`` is sent through the session
  the hook opened.

The provider *notifiers* (``SlackWebhookNotifier``, ``HttpNotifier``, ``SmtpNotifier``) are made for DAG/task
callbacks: they render templates against a task context and do not hand back the response, so they cannot tell a
429 from a 500 nor report what was delivered. The hooks under them are used instead.

A channel with ``url`` gets an Airflow ``Connection`` built at run time (never stored): the Slack hook takes the
whole URL as the webhook token, the HTTP hook as its host. A channel with ``connection_id`` reads that Airflow
connection (``AIRFLOW_CONN_<ID>`` or any secrets backend). E-mail channels always use a connection (SMTP host, port,
login, ``from_email`` extra).
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs, urlsplit

from collectors.core.http_retry import RETRYABLE_STATUSES, retry_after_seconds
from openfinops.config import AlertChannelConfig

log = logging.getLogger(__name__)

REDACTED = "***"
DEFAULT_FROM = "openfinops@localhost"
HTTP_TIMEOUT_SECONDS = 30
# Libraries that log request URLs (and so webhook tokens) at DEBUG: their records are redacted at the source.
_URL_LOGGING_LIBRARIES = ("urllib3.connectionpool", "urllib3", "requests", "slack_sdk", "slack_sdk.webhook.client",
                          "slack_sdk.webhook", "openfinops.alert_channels.slack")


class SendError(Exception):
    """One failed delivery attempt. ``detail`` is safe to log (redacted); ``retry_after`` is the wait the server
    asked for, in seconds."""

    def __init__(self, detail: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retryable = retryable
        self.retry_after = retry_after
        self.attempts = 1  # set by the retry loop


class Redactor(logging.Filter):
    """Replaces every registered secret with ``***`` in log records and in any text passed to :meth:`redact`.

    Installed (:meth:`installed`) on the loggers of the HTTP libraries and on the root logger's handlers while alerts
    are delivered; each secret is also handed to Airflow's secrets masker, which redacts task logs."""

    MIN_LENGTH = 6  # shorter strings ("/", "ok") would redact ordinary text

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._loggers: list[logging.Filterer] = []

    def add(self, secret: str | None) -> None:
        if not secret or len(secret) < self.MIN_LENGTH or secret in self._secrets:
            return
        self._secrets.add(secret)
        try:
            from airflow.sdk.log import mask_secret
        except ImportError:  # pragma: no cover - Airflow is in the runtime venv
            return
        mask_secret(secret)

    def add_url(self, url: str | None) -> None:
        """A URL whose path and query may carry a token (Slack's ``/services/T../B../<token>``, ``?token=``):
        the URL itself, its path+query (what urllib3 logs), its query and its userinfo password are secrets, and so
        are the token-like parts alone."""
        if not url:
            return
        parts = urlsplit(url)
        self.add(url)
        path_query = parts.path + (f"?{parts.query}" if parts.query else "")
        self.add(path_query)
        self.add(parts.path.rstrip("/"))
        self.add(parts.query)
        self.add(parts.password)
        # the token alone (a receiver may echo it in an error body): every query value, and each path segment that
        # looks like a token or an id (16+ characters, or 6+ with a digit: Slack's T.../B.../<token>)
        for value in parse_qs(parts.query).values():
            for item in value:
                self.add(item)
        for segment in parts.path.split("/"):
            if len(segment) >= 16 or (len(segment) >= self.MIN_LENGTH and any(c.isdigit() for c in segment)):
                self.add(segment)

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix; never drop the record
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True

    def watch(self, target: logging.Filterer) -> None:
        """Redact the records of one more logger (or handler) until :meth:`installed` exits."""
        if target not in self._loggers:
            target.addFilter(self)
            self._loggers.append(target)

    @contextmanager
    def installed(self) -> Iterator[Redactor]:
        for name in _URL_LOGGING_LIBRARIES:
            self.watch(logging.getLogger(name))
        for handler in logging.getLogger().handlers:
            self.watch(handler)
        try:
            yield self
        finally:
            for target in self._loggers:
                target.removeFilter(self)
            self._loggers.clear()


def redacted_url(url: str) -> str:
    """``scheme://host:port/***``: where a message goes, without the token-bearing path, query or userinfo."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}/{REDACTED}" if (parts.path.strip("/") or parts.query) else f"{parts.scheme}://{host}"


class Channel:
    """One configured alert channel. ``target`` says where messages go with no secret in it (for logs, errors and
    ``alerts.notifications``)."""

    type: str = ""

    def __init__(self, config: AlertChannelConfig, redactor: Redactor) -> None:
        self.id = config.id
        self.config = config
        self.redactor = redactor
        if config.url:
            redactor.add_url(config.url)
            self.target = redacted_url(config.url)
        else:
            self.target = f"connection {config.connection_id}"

    def describe(self) -> str:
        return f"{self.id} ({self.type} {self.target})"

    def fingerprint(self) -> str:
        """A hash of where messages really go: the full URL, or the connection's type, host, port, login, schema and
        password (a Slack webhook connection keeps its URL there), plus the recipients. Recorded with every sent
        message: a channel id whose target changes (the demo sink replaced by the real workspace) is a new
        destination, so the recent alerts reach it too. Only the hash is stored."""
        import hashlib

        if self.config.url:
            parts = [self.type, self.config.url]
        else:
            try:
                from airflow.sdk import BaseHook

                conn = BaseHook.get_connection(self.config.connection_id)
                parts = [self.type, conn.conn_type, conn.host, conn.port, conn.login, conn.schema, conn.password]
            except Exception:  # unreadable now: send() fails and names it; the id stands in
                parts = [self.type, "connection", self.config.connection_id]
        parts += sorted(self.config.to or [])
        return hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:16]

    def send(self, payload: Mapping[str, Any]) -> None:
        """One attempt. Raises :class:`SendError`."""
        raise NotImplementedError

    def _connection(self, conn_type: str, **fields: Any):
        """The Airflow connection of this channel: the configured one, or one built now from ``url``."""
        from airflow.sdk import BaseHook, Connection

        if self.config.url:
            return Connection(conn_id=f"openfinops_alert_{self.id}".replace("-", "_"), conn_type=conn_type, **fields)
        try:
            conn = BaseHook.get_connection(self.config.connection_id)
        except Exception as exc:  # AirflowNotFoundException and secrets-backend errors
            raise SendError(f"Airflow connection {self.config.connection_id!r} could not be read: "
                            f"{self.redactor.redact(str(exc))}", retryable=False) from None
        self.redactor.add(conn.password)
        self.redactor.add_url(conn.host if conn.host and "://" in conn.host else None)
        for value in conn.extra_dejson.values():  # HTTP connections carry headers (Authorization) in the extra
            if isinstance(value, str):
                self.redactor.add(value)
                self.redactor.add(value.split(" ", 1)[-1])  # "Bearer <token>": the token alone too
        return conn


def _runtime_connection_hook(hook_class: type, connection) -> Any:
    """A subclass of ``hook_class`` whose ``get_connection`` returns ``connection`` (a channel configured by ``url``
    has no Airflow connection to look up)."""

    class RuntimeConnectionHook(hook_class):
        def get_connection(self, conn_id: str):  # the hook asks for its own (made-up) conn id
            return connection

    RuntimeConnectionHook.__name__ = f"Runtime{hook_class.__name__}"
    return RuntimeConnectionHook


def _http_status_error(status: int, reason: str, body: str, headers: Mapping[str, str],
                       redactor: Redactor) -> SendError:
    detail = f"HTTP {status}" + (f" {reason}" if reason else "")
    body = redactor.redact((body or "").strip())[:200]
    if body:
        detail += f": {body}"
    retryable = status in RETRYABLE_STATUSES
    return SendError(detail, retryable=retryable, retry_after=retry_after_seconds(headers) if retryable else None)


class SlackChannel(Channel):
    """Slack incoming webhook (``SlackWebhookHook``). Slack answers 200 ``ok``; 429 with ``Retry-After``."""

    type = "slack"

    def __init__(self, config: AlertChannelConfig, redactor: Redactor) -> None:
        super().__init__(config, redactor)
        self._hook = None
        # slack_sdk logs the full webhook URL at DEBUG: give it a logger of ours, redacted at the source
        self._logger = logging.getLogger("openfinops.alert_channels.slack")

    def hook(self):
        if self._hook is None:
            from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

            if self.config.url:
                conn = self._connection("slackwebhook", password=self.config.url)
                hook_class = _runtime_connection_hook(SlackWebhookHook, conn)
                conn_id = conn.conn_id
            else:
                self._connection("slackwebhook")  # registers the token with the redactor; errors name the conn id
                hook_class, conn_id = SlackWebhookHook, self.config.connection_id
            self._hook = hook_class(slack_webhook_conn_id=conn_id, timeout=HTTP_TIMEOUT_SECONDS, retry_handlers=[],
                                    logger=self._logger)
            self.redactor.watch(self._logger)
            try:
                self.redactor.add_url(self._hook.client.url)
            except Exception as exc:
                self._hook = None
                raise SendError(f"Slack webhook connection unusable: {self.redactor.redact(str(exc))}",
                                retryable=False) from None
        return self._hook

    def send(self, payload: Mapping[str, Any]) -> None:
        client = self.hook().client
        try:
            response = client.send_dict(dict(payload))
        except OSError as exc:  # urllib's URLError, timeouts, refused connections
            raise SendError(f"{type(exc).__name__}: {self.redactor.redact(str(exc))}", retryable=True) from None
        if response.status_code != 200:
            raise _http_status_error(response.status_code, "", response.body or "", response.headers or {},
                                     self.redactor)


class WebhookChannel(Channel):
    """Generic webhook: POST the JSON payload (``HttpHook``); any 2xx is delivered. An ``Idempotency-Key`` header
    (alert type and key) lets the receiver drop the rare duplicate (see :mod:`openfinops.alerts`)."""

    type = "webhook"

    def __init__(self, config: AlertChannelConfig, redactor: Redactor) -> None:
        super().__init__(config, redactor)
        self._hook = None

    def hook(self):
        if self._hook is None:
            from airflow.providers.http.hooks.http import HttpHook

            if self.config.url:
                conn = self._connection("http", host=self.config.url)
                self._hook = _runtime_connection_hook(HttpHook, conn)(method="POST", http_conn_id=conn.conn_id)
            else:
                self._connection("http")
                self._hook = HttpHook(method="POST", http_conn_id=self.config.connection_id)
        return self._hook

    def send(self, payload: Mapping[str, Any]) -> None:
        import requests

        headers = {"Content-Type": "application/json", "User-Agent": "openfinops-alerts",
                   "Idempotency-Key": f"{payload.get('alert_type')}:{payload.get('alert_key')}"}
        try:
            response = self.hook().run(endpoint=None, json=dict(payload), headers=headers,
                                       extra_options={"check_response": False, "timeout": HTTP_TIMEOUT_SECONDS})
        except requests.RequestException as exc:
            raise SendError(f"{type(exc).__name__}: {self.redactor.redact(str(exc))}", retryable=True) from None
        if not 200 <= response.status_code < 300:
            raise _http_status_error(response.status_code, response.reason or "", response.text,
                                     response.headers, self.redactor)


def _smtp_error(exc: Exception, redactor: Redactor) -> SendError:
    """4xx replies, dropped connections and network errors are transient; 5xx replies are not."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{rcpt}: SMTP {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items())
        return SendError(f"recipients refused: {redactor.redact(detail)}",
                         retryable=all(400 <= c < 500 for c in codes))
    if isinstance(exc, smtplib.SMTPResponseException):
        return SendError(f"SMTP {exc.smtp_code} {redactor.redact(_text(exc.smtp_error))}",
                         retryable=400 <= exc.smtp_code < 500)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return SendError(f"{type(exc).__name__}: {redactor.redact(str(exc))}", retryable=True)
    if isinstance(exc, smtplib.SMTPException):  # e.g. AUTH not supported: retrying will not help
        return SendError(f"{type(exc).__name__}: {redactor.redact(str(exc))}", retryable=False)
    if isinstance(exc, OSError):  # refused, reset, timed out (SMTPException is an OSError too: checked above)
        return SendError(f"{type(exc).__name__}: {redactor.redact(str(exc))}", retryable=True)
    # the hook raises AirflowException("Unable to connect to smtp server") after its own connect retries
    return SendError(f"{type(exc).__name__}: {redactor.redact(str(exc))}", retryable=True)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class EmailChannel(Channel):
    """E-mail through an SMTP connection (``connection_id``, default ``smtp_default``) with ``SmtpHook``: a
    plain-text message to ``to``, from the connection's ``from_email`` extra (default ``openfinops@localhost``),
    with a Message-ID derived from the alert so that a re-sent duplicate is recognisable. One SMTP session per
    message."""

    type = "email"

    def __init__(self, config: AlertChannelConfig, redactor: Redactor) -> None:
        super().__init__(config, redactor)
        self.connection_id = config.connection_id or "smtp_default"
        self.target = f"smtp connection {self.connection_id} to {', '.join(config.to or [])}"
        self._hook_class = None
        self._from: str | None = None

    def _smtp_connection(self):
        from airflow.sdk import BaseHook

        try:
            conn = BaseHook.get_connection(self.connection_id)
        except Exception as exc:
            raise SendError(f"Airflow connection {self.connection_id!r} could not be read: "
                            f"{self.redactor.redact(str(exc))}", retryable=False) from None
        self.redactor.add(conn.password)
        return conn

    def from_address(self) -> str:
        """The sender, as ``SmtpHook`` reads it: the connection's ``from_email`` extra."""
        if self._from is None:
            self._from = self._smtp_connection().extra_dejson.get("from_email") or DEFAULT_FROM
        return self._from

    def hook_class(self):
        if self._hook_class is None:
            from airflow.providers.smtp.hooks.smtp import SmtpHook

            class PlainTextSmtpHook(SmtpHook):
                """SmtpHook whose session sends a ready-made (plain-text) ``EmailMessage``: ``send_email_smtp``
                only builds HTML mails."""

                def send_message(self, message: EmailMessage) -> None:
                    if self._smtp_client is None:
                        raise smtplib.SMTPServerDisconnected("the SMTP session is not open")
                    self._smtp_client.send_message(message)

            self._smtp_connection()  # a missing connection fails here, naming it (not retried)
            self._hook_class = PlainTextSmtpHook
        return self._hook_class

    @staticmethod
    def build(payload: Mapping[str, Any]) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = payload["subject"]
        message["From"] = payload["from"]
        message["To"] = ", ".join(payload["to"])
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = payload["message_id"]
        message.set_content(payload["body"])
        return message

    def send(self, payload: Mapping[str, Any]) -> None:
        hook_class = self.hook_class()
        try:
            with hook_class(smtp_conn_id=self.connection_id) as hook:
                hook.send_message(self.build(payload))
        except Exception as exc:
            raise _smtp_error(exc, self.redactor) from None


CHANNEL_TYPES: dict[str, type[Channel]] = {"slack": SlackChannel, "webhook": WebhookChannel, "email": EmailChannel}


@dataclass
class ChannelSet:
    """The configured channels by id, sharing one :class:`Redactor`."""

    channels: dict[str, Channel]
    redactor: Redactor

    @classmethod
    def from_config(cls, configs: list[AlertChannelConfig], redactor: Redactor | None = None) -> ChannelSet:
        redactor = redactor or Redactor()
        return cls({c.id: CHANNEL_TYPES[c.type](c, redactor) for c in configs}, redactor)

    def __getitem__(self, channel_id: str) -> Channel:
        return self.channels[channel_id]
