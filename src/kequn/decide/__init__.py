"""Decisions: from profiles and triggers to the day's tasks for each manager."""
