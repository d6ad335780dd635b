"""The JSON Schema of the workspace config, for editors; `python -m volley.config_schema` prints it."""

from __future__ import annotations

import json

from volley.config import Config


def schema() -> dict:
    data = Config.model_json_schema()
    data["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    data["title"] = "Volley workspace configuration (.volley.toml or [tool.volley])"
    return data


if __name__ == "__main__":
    import sys

    sys.stdout.write(json.dumps(schema(), indent=2) + "\n")
