"""Rebuild `static/` from the npm packages `package-lock.json` pins (run after `npm ci` in this folder):

    cd gateway/graphiql && npm ci --ignore-scripts && cd ../.. && python -m gateway.graphiql.vendor

GraphiQL 3 ships a ready UMD build and React 18 its UMD files, so nothing is compiled: the files are
copied gzip-compressed (deterministically, no timestamp) with their licences, and the gateway serves them.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

HERE = Path(__file__).parent
# static name -> file in node_modules
FILES = {
    "graphiql.min.js": "graphiql/graphiql.min.js",
    "graphiql.min.css": "graphiql/graphiql.min.css",
    "react.production.min.js": "react/umd/react.production.min.js",
    "react-dom.production.min.js": "react-dom/umd/react-dom.production.min.js",
}
LICENSED = ("graphiql", "react", "react-dom")


def main() -> None:
    modules = HERE / "node_modules"
    static = HERE / "static"
    static.mkdir(exist_ok=True)
    for name, source in FILES.items():
        data = (modules / source).read_bytes()
        (static / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    notices = []
    for package in LICENSED:
        version = json.loads((modules / package / "package.json").read_text())["version"]
        notices.append(f"{package} {version}\n\n{(modules / package / 'LICENSE').read_text()}")
    (static / "LICENSES.txt").write_text("\n\n".join(notices))


if __name__ == "__main__":
    main()
