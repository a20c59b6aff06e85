"""Use cases: each checks its rules, writes records, the audit row and any mail rows, and flushes.
Services never commit: the view commits once per request (`innovation_cycle.transaction.commit`)."""
