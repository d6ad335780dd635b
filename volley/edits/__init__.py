"""Changing files: matching an edit to a file's text, writing files whole (with a journal), verifying a change."""
