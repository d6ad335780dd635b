"""The JavaScript and TypeScript import graph (volley/affected/javascript.py): how imports are resolved."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import write
from volley.affected.javascript import ScriptGraph, is_script_test
from volley.index import visible_files
from volley.workspace import Workspace


def _graph(root: Path) -> ScriptGraph:
    ws = Workspace(root)
    return ScriptGraph(ws, visible_files(ws, ws.resolve(".")))


TREE = {
    "tsconfig.json": '{\n  // comments\n  "compilerOptions": {"baseUrl": ".", "paths": {"@/*": ["src/*"],},},\n}\n',
    "packages/ui/package.json": '{"name": "@org/ui"}\n',
    "packages/ui/src/index.ts": "export const Button = 1;\n",
    "src/lib/calc.ts": "export const add = (a: number, b: number) => a + b;\n",
    "src/lib/index.ts": 'export * from "./calc.js";\n',  # .js written for a .ts file
    "src/app.tsx": 'import { add } from "@/lib";\nimport { Button } from "@org/ui";\nimport React from "react";\n',
    "src/legacy.cjs": 'const app = require("./app");\n',
    "src/app.test.tsx": 'import "./app";\n',
    "src/plugins.js": "export const load = (name) => import(`./plugins/${name}.js`);\n",  # may load any file
    "src/unrelated.ts": "export const x = 1;\n",
}


def test_imports_resolve_as_bundlers_and_typescript_resolve_them(tmp_path: Path) -> None:
    for rel, text in TREE.items():
        write(tmp_path, rel, text)
    graph = _graph(tmp_path)
    app = {"src/app.tsx", "src/legacy.cjs", "src/app.test.tsx", "src/plugins.js"}
    assert graph.importers_of("src/lib/calc.ts") == {"src/lib/index.ts", *app}  # a tsconfig path, then index.ts
    assert graph.importers_of("packages/ui/src/index.ts") == app  # a workspace package by its name
    assert graph.importers_of("src/unrelated.ts") == {"src/plugins.js"}  # only the computed import may load it


def test_test_files_of_vitest_jest_and_node() -> None:
    assert all(map(is_script_test, ["a.test.js", "src/a.spec.tsx", "src/__tests__/a.js", "__tests__/b.mjs"]))
    assert not any(map(is_script_test, ["src/test.js", "src/a.d.ts", "src/testing.ts", "a.test.json"]))
