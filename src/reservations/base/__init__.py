"""The shared domain, with no HTTP and no templates in it, grouped by concern:

- ``models`` (the tables), ``errors`` (the refusals a person can meet) and ``clock`` (UTC
  stored, Europe/Paris shown): the vocabulary everything below uses;
- ``rules``: every change to slots, bookings, the waiting list and the catalogue, each in one
  transaction with its audit entry;
- ``reads``: what the screens read, one SELECT (or a handful) per screen;
- ``infra``: the database handle, secrets, and the mail outbox with its delivery;
- ``seeding``: data that is not the office's own work (the demo, past seasons imported).
"""
