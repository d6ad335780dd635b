"""A bare MCPServer with one trivial tool: the floor Volley's per-call overhead is measured against."""

from mcp.server.mcpserver import MCPServer

server = MCPServer("echo")


@server.tool()
async def echo(text: str) -> str:
    """Return the text."""
    return text


if __name__ == "__main__":
    server.run()
