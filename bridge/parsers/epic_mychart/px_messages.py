"""MyChart PX messages: one open conversation (`app/communication-center/conversation?id=…`) and the
conversation list (`app/communication-center`).

Thread, order of extraction: the subject `h2#thread-subject` (else the `data-testid` subject, else the
first heading of the thread pane); one record per `article[aria-label^="Message from "]` in page
order, the sender from that label; the time from the message header; recipients from
`ul[aria-label="Recipients"] > li` (names hold commas: never split); the body from `div.fmtConv`,
one `div[data-paragraph]` per line, a `&nbsp;` line separating paragraphs; attachments are not body.
Direction is `from_patient` when the sender is the logged-in person (the self entry of the patient
menu) or the patient, or writes "on behalf of" someone; otherwise `to_patient`.
The conversation list in `aside[aria-label="Conversations"]` belongs to other threads: skipped here.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from bridge.records import Message

from ..base import Draft
from ..dates import parse_date
from ..text import clean, is_hidden, paragraphs_of, text_of
from .px_context import Context, same_person
from .px_dom import datetime_in, has_date, leaves, raw_text, report_text

MESSAGE = 'article[aria-label^="Message from "]'
SUBJECT = "#thread-subject"
TESTID_SUBJECT = '[data-testid="conversation-subject"]'
TESTID_MESSAGE = '[data-testid="conversation-message"]'
BODY = ".fmtConv"  # the real class of a message body
CONVERSATIONS = 'aside[aria-label="Conversations"]'
_BEHALF = re.compile(r"^on behalf of\s+(?P<who>.+)$", re.I)
_CONVERSATION_LINK = 'a[href*="communication-center/conversation"]'


def has_thread(main: LexborNode) -> bool:
    return main.css_first(MESSAGE) is not None or main.css_first(SUBJECT) is not None


def parse_thread(draft: Draft, main: LexborNode, ctx: Context) -> None:
    subject = text_of(main.css_first(SUBJECT)) or text_of(main.css_first(TESTID_SUBJECT))
    articles = list(main.css(MESSAGE)) or list(main.css(TESTID_MESSAGE))
    if subject is None and articles:
        pane = articles[0].parent
        while pane is not None and subject is None and pane.mem_id != main.mem_id:
            subject = text_of(pane.css_first("h2, h1"))
            pane = pane.parent
    if subject is None:
        draft.warn("the conversation has no subject")
    for article in articles:
        if is_hidden(article):
            continue
        draft.records.append(_message(article, subject, ctx))


def _message(article: LexborNode, subject: str | None, ctx: Context) -> Message:
    label = clean(article.attributes.get("aria-label")) or ""
    sender = clean(label[len("Message from ") :]) if label.startswith("Message from ") else None
    if sender:
        sender = clean(re.sub(r"\s+on behalf of\s+.*$", "", sender, flags=re.I))
    header = article.css_first("header") or article
    when = None
    behalf = None
    for _node, t in leaves(header):
        m = _BEHALF.match(t)
        if m:
            behalf = clean(m.group("who"))
            continue
        if when is None and has_date(t):
            when = datetime_in(t)
    if sender is None:
        sender = text_of(header.css_first('[data-testid="message-sender"]'))
    recipients = [name for li in article.css('ul[aria-label="Recipients"] > li') if (name := text_of(li))]
    body = _body(article)
    if same_person(sender, ctx.self_name) or same_person(sender, ctx.patient) or behalf:
        direction = "from_patient"
    elif sender and (ctx.self_name or ctx.patient):
        direction = "to_patient"
    else:
        direction = None
    return Message(
        title=subject,
        occurred_at=when,
        thread_subject=subject,
        sender=sender,
        recipients=recipients,
        body=body,
        direction=direction,
    )


def _body(article: LexborNode) -> str | None:
    box = article.css_first(BODY)
    if box is None:
        return _body_fallback(article)
    lines = list(box.css("[data-paragraph]"))
    if not lines:
        return paragraphs_of(box)
    paras: list[str] = []
    current: list[str] = []
    for line in lines:
        t = raw_text(line)
        if t:
            current.append(t)
        elif current:
            paras.append("\n".join(current))
            current = []
    if current:
        paras.append("\n".join(current))
    return "\n\n".join(paras) or None


def _body_fallback(article: LexborNode) -> str | None:
    """No `.fmtConv`: the article's blocks minus its header, recipients and attachment links."""
    nodes: list[LexborNode] = []
    for child in article.iter(include_text=False):
        if child.tag == "header" or child.css_first('[aria-label="Recipients"]') is not None:
            continue
        if child.css_first('a[href*="attachment"]') is not None and not child.css_first("p"):
            continue
        nodes.append(child)
    return report_text(nodes)


def parse_conversation_list(draft: Draft, main: LexborNode) -> None:
    """One message record per conversation in the list (subject and date; the preview is no body)."""
    seen: set[str] = set()
    for link in main.css(_CONVERSATION_LINK):
        href = link.attributes.get("href") or ""
        if href in seen:
            continue
        seen.add(href)
        texts = [t for _n, t in leaves(link, include_hidden=False)]
        if not texts:
            continue
        subject = texts[0]
        when = next((parse_date(t) for t in texts[1:] if has_date(t) and len(t) < 40), None)
        draft.records.append(Message(title=subject, occurred_at=when, thread_subject=subject))
