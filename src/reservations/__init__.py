"""reservations: booking and scheduling of farm visits and animations for a tourism office."""

__version__ = "0.1.0"
