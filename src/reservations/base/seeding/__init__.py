"""Data that is not the office's own work: the demo, and past seasons from spreadsheets."""
