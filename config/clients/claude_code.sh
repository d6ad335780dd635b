# Claude Code: run in your project; it starts Volley on the project directory.
# Claude Code runs read-only tools (readOnlyHint) in parallel: read_file, grep, list_dir and run_linter are.
claude mcp add volley -- /ABSOLUTE/PATH/TO/volley/.venv/bin/volley serve --workspace "$PWD"
