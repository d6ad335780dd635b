"""Volley's tools: plain async functions over a Workspace; they know nothing of MCP."""
