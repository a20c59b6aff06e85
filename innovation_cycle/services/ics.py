"""iCalendar (RFC 5545) for deadlines: the .ics attached to a reminder, and each person's feed.

One event per (cycle, stage) closing, with a stable UID: a calendar that subscribed to the feed, or imported
a reminder's attachment, updates the event when the admin moves the deadline instead of adding a second one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from icalendar import Calendar, Event

from innovation_cycle import clock

PRODID = "-//ORCP Hauts-de-France//innovation-cycle//FR"


@dataclass(frozen=True)
class Deadline:
    cycle_id: int
    year: int
    stage: str
    stage_label: str
    closes_at: datetime
    link: str | None = None


def _uid(deadline: Deadline) -> str:
    domain = current_app.config.get("MAIL_MESSAGE_ID_DOMAIN") or "innovation-cycle.invalid"
    return f"cycle-{deadline.cycle_id}-{deadline.stage}-cloture@{domain}"


def _event(deadline: Deadline, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", _uid(deadline))
    event.add("dtstamp", stamp)
    # A deadline is a moment; calendars show a short slot ending at it.
    event.add("dtstart", deadline.closes_at - timedelta(minutes=30))
    event.add("dtend", deadline.closes_at)
    event.add("summary", _("Clôture : %(stage)s (cycle %(year)s)", stage=deadline.stage_label, year=deadline.year))
    description = _("Fin de l'étape « %(stage)s » du cycle %(year)s de la convention État–UGAP, le %(date)s "
                    "(heure de Paris).", stage=deadline.stage_label, year=deadline.year,
                    date=clock.to_paris(deadline.closes_at).strftime("%d/%m/%Y %H:%M"))
    if deadline.link:
        description += "\n" + deadline.link
        event.add("url", deadline.link)
    event.add("description", description)
    event.add("transp", "TRANSPARENT")
    return event


def calendar(deadlines: Iterable[Deadline], *, name: str | None = None) -> str:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    cal.add("calscale", "GREGORIAN")
    if name:
        cal.add("x-wr-calname", name)
    stamp = clock.now()
    for deadline in deadlines:
        cal.add_component(_event(deadline, stamp))
    return cal.to_ical().decode("utf-8")
