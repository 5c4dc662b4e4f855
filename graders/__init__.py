"""Pluggable graders. Each turns the sandbox's outputs (read as data) into measurements."""
