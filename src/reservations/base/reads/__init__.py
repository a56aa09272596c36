"""What the screens read: one SELECT (or a handful) per screen, no per-row queries."""
