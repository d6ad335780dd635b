"""The MCP adapter: builds the MCPServer, runs the transports. No tool logic lives here."""
