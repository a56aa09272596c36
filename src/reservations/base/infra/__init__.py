"""The infrastructure under the rules: the database, time, secrets, the mail outbox."""
