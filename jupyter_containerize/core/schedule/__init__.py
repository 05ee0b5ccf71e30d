"""Schedules: notebooks and pipelines run on cron ticks in the image frozen for them."""
