"""Deadlines and their escalation ladders, counted on the working-day calendar: pure, no clock, no I/O."""

from scheduling.schedule import office_time, schedule_deadline

__all__ = ["office_time", "schedule_deadline"]
