"""E-mail sent while someone waits for the page (sign-up, password reset,
payment reminders): sent at once, within a bounded time, so the page says
whether it went. Tryton's usual way — at commit, failures only logged —
would tell a customer "check your e-mail" when nothing was sent."""
import smtplib

from trytond.config import config
from trytond.sendmail import get_smtp_server, send_message
from trytond.tools.email_ import set_from_header

# Seconds a page waits for the mail server before saying it did not answer.
TIMEOUT = 10


class NotSent(Exception):
    "The message could not be sent; str() says why, in a user's words"


def branded(msg, brand, to, subject):
    """``msg`` to ``to`` from the server's sender on behalf of ``brand``
    (as web_user sends its e-mails)"""
    from_ = config.get('email', 'from')
    set_from_header(msg, from_, brand.email_from or from_)
    msg['To'] = to
    msg['Subject'] = subject
    return msg


def send_now(msg):
    "Send ``msg`` through the configured server now, or raise NotSent"
    uri = config.get('email', 'uri')
    if 'timeout=' not in uri:
        uri += ('&' if '?' in uri else '?') + f'timeout={TIMEOUT}'
    try:
        server = get_smtp_server(uri, strict=True)
        server = send_message(msg, server=server, strict=True)
        server.quit()
    except (OSError, smtplib.SMTPException) as exception:
        raise NotSent("the mail server did not take the message "
            f"({exception.__class__.__name__})") from exception
