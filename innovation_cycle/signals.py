"""What happens to a cycle, said once: areas subscribe instead of `services.cycles` importing them back.

`services.cycles` sends; `services.notifications` (reminders, announcements) and `services.reviews`
(automatic conflicts, next year's grid) listen. Receivers run in the sender's transaction: they flush, never
commit.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# sender: the Cycle; kwargs: before (the previous state), trigger.
cycle_moved = _signals.signal("cycle-moved")
# sender: the Cycle whose stage windows changed.
calendar_changed = _signals.signal("calendar-changed")
# sender: the Cycle; kwargs: user_id (the member added to its committee).
committee_member_added = _signals.signal("committee-member-added")
# sender: the previous Cycle; kwargs: nxt (the new one, flushed). For the settings that travel to next year.
next_cycle_prepared = _signals.signal("next-cycle-prepared")
