"""Volley: a fast, parallel and sandboxed MCP server for coding agents."""

__version__ = "0.1.0"
