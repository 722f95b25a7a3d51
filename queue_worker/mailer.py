"""The e-mail that tells a parent their turn is near: written in their language, sent
in the background over SMTP (aiosmtplib), so that the worker's tick never waits on a
mail server.

A message is handed over once (the store has already deleted the address); a server
that is away is tried a few more times, then the message is given up. Addresses are
never logged: a line names the room and what went wrong, nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import aiosmtplib

from gateway import i18n
from gateway.links import Links
from gateway.notify import MailSettings, Signup
from gateway.rooms import RoomConfig

log = logging.getLogger("sluis.mail")

# Seconds between tries of one message while the server is away; then it is given up.
RETRY_SECONDS = (2.0, 10.0, 30.0)
# Messages waiting to be sent at most; past this (a server away for long) new ones are
# given up at once rather than piling up in memory.
QUEUE_LIMIT = 10_000
SENDERS = 4


@dataclass(frozen=True, slots=True)
class Outgoing:
    room: str
    message: EmailMessage


class Letters:
    """Writes the message for one sign-up (no I/O): texts from the queue page's
    catalogues (gateway/locales), the personal link signed with the deployment's keys."""

    def __init__(self, mail: MailSettings, keys: Sequence[str],
                 catalogs: i18n.Catalogs | None = None) -> None:
        self.mail = mail
        self.links = Links(keys)
        self.catalogs = catalogs or i18n.Catalogs()
        _, address = parseaddr(mail.sender)
        self._domain = address.rpartition("@")[2] or None

    def write(self, room: RoomConfig, visitor: str, signup: Signup, turn: bool,
              now_s: int) -> EmailMessage:
        lang = signup.lang if signup.lang in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE
        _ = self.catalogs.gettext(lang)
        title = room.title_in(lang)
        base = room.notify.public_url or self.mail.public_url or ""
        link = self.links.url(base, room.name, visitor, signup.path)
        if turn:
            subject = _("It is your turn: %(title)s") % {"title": title}
            lines = [_("It is your turn in the waiting room for %(title)s. Go on soon: "
                       "the turn does not wait long.") % {"title": title}]
        else:
            subject = _("Your turn is near: %(title)s") % {"title": title}
            lines = [_("Your turn in the waiting room for %(title)s is near: about "
                       "%(minutes)s minutes to go, perhaps sooner.")
                     % {"title": title, "minutes": room.notify.minutes}]
        lines += ["", _("Open your personal link to go on from your place, on this device "
                        "or on another one:"), link, ""]
        if not turn:
            until = i18n.clock(now_s + room.notify.hold_minutes * 60, lang, room.tz)[:5]
            lines.append(_("The link is for you alone: whoever opens it takes your place. "
                           "Until %(time)s your place is kept, even with the page closed.")
                         % {"time": until})
        else:
            lines.append(_("The link is for you alone: whoever opens it takes your place."))
        lines += ["", _("Your e-mail address has already been deleted from the waiting "
                        "room: this is the only message it sends you.")]
        msg = EmailMessage()
        msg["From"] = self.mail.sender
        msg["To"] = signup.address
        msg["Subject"] = subject
        msg["Date"] = formatdate(now_s, localtime=False)
        msg["Message-ID"] = make_msgid(domain=self._domain)
        # RFC 3834: an automatic message; out-of-office replies should not answer it.
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content("\n".join(lines) + "\n")
        msg["Content-Language"] = lang  # after set_content, which clears Content-*
        return msg


class Mailer:
    """Sends messages from a queue with a few concurrent senders, started by `start`
    and stopped by `close`."""

    def __init__(self, mail: MailSettings, keys: Sequence[str],
                 retry_seconds: Sequence[float] = RETRY_SECONDS) -> None:
        self.mail = mail
        self.letters = Letters(mail, keys)
        self.retry_seconds = tuple(retry_seconds)
        self._queue: asyncio.Queue[Outgoing] = asyncio.Queue(QUEUE_LIMIT)
        self._tasks: list[asyncio.Task[None]] = []
        self.sent = 0
        self.failed = 0

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run()) for _ in range(SENDERS)]

    def submit(self, room: str, message: EmailMessage) -> None:
        try:
            self._queue.put_nowait(Outgoing(room, message))
        except asyncio.QueueFull:
            self.failed += 1
            log.warning("notification given up: too many waiting to be sent",
                        extra={"room": room})

    async def drain(self, seconds: float) -> None:
        """Wait until every submitted message was sent or given up (at most `seconds`)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), seconds)

    async def close(self, seconds: float = 5.0) -> None:
        if self._tasks:
            await self.drain(seconds)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._deliver(item)
            finally:
                self._queue.task_done()

    async def _deliver(self, item: Outgoing) -> None:
        for attempt in range(len(self.retry_seconds) + 1):
            try:
                await self.send(item.message)
            except aiosmtplib.SMTPResponseException as exc:
                permanent = exc.code >= 500
                why = f"{type(exc).__name__} {exc.code}"
            except aiosmtplib.SMTPRecipientsRefused as exc:
                # The only recipient refused: its code says whether to try again (the
                # exception itself names the address, so it is not logged).
                codes = [r.code for r in exc.recipients]
                permanent = bool(codes) and min(codes) >= 500
                why = f"{type(exc).__name__} {','.join(map(str, codes))}"
            except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
                permanent = False
                why = type(exc).__name__
            else:
                self.sent += 1
                log.info("notification sent", extra={"room": item.room})
                return
            if permanent or attempt == len(self.retry_seconds):
                break
            await asyncio.sleep(self.retry_seconds[attempt])
        self.failed += 1
        log.warning("notification not delivered", extra={"room": item.room, "error": why})

    async def send(self, message: EmailMessage) -> None:
        m = self.mail
        context = None
        if m.tls or m.starttls != "off":
            context = ssl.create_default_context(cafile=m.ca_file)
        await aiosmtplib.send(
            message, hostname=m.host, port=m.port, username=m.user, password=m.password,
            use_tls=m.tls, start_tls=False if m.tls else {
                "required": True, "auto": None, "off": False}[m.starttls],
            tls_context=context, timeout=m.timeout_seconds)


def mailer_for(mail: MailSettings | None, rooms: Sequence[RoomConfig],
               keys: Sequence[str]) -> Mailer | None:
    """The worker's mailer when an SMTP server is set and some room offers e-mail."""
    if mail is None or not any(room.notify.by_email for room in rooms):
        return None
    return Mailer(mail, keys)
