"""`incept-dsl preview FILE`: a local web page that redraws a program's figure, cost table and
errors each time the file (or a file it imports) is saved.

One job per module: `choices` (the fixed names a request may use), `workspace` (the watched
program: its files, its models, one cached render per version), `render` (figures, tables and
downloads from the project's backends), `watch` (file changes -> a new version), `app` (the
Starlette routes, headers and server-sent events), `server` (binding 127.0.0.1 and running
uvicorn). The page is `static/index.html` with its script and style sheet.

Needs the `preview` extra (`pip install incept-dsl[preview]`: starlette, uvicorn, watchfiles,
sse-starlette); only `app`, `watch` and `server` import them.
"""
