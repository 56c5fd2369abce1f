"""Pure domain: definitions, events, actions, predicates, schedules. No I/O, no clock."""
