"""The n-gram index: grep's candidate files from trigrams of the workspace's text, kept fresh as files change."""
