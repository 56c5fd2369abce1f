"""The API reference page at /api/v1/docs, served from a packaged Swagger UI (works offline).

The Swagger UI files come from the fastapi-offline package (Swagger UI 5, which reads OpenAPI 3.1);
the page and its start-up script are ours, so that no inline script is needed.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

# The files of the packaged Swagger UI that the page loads; nothing else is served from the package.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def swagger_ui_dir() -> Path:
    """Return the folder of the Swagger UI files shipped with the fastapi-offline package."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def page(prefix: str, title: str) -> str:
    """The HTML of the reference page; scripts come from this server only (no inline script, no CDN)."""
    assets = f"{prefix}/docs/assets"
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/init.js"></script>
</body>
</html>
"""


def init_script(openapi_url: str) -> str:
    """The script that starts Swagger UI on the OpenAPI document of this server."""
    return (
        "window.ui = SwaggerUIBundle({"
        f"url: {openapi_url!r}, dom_id: '#swagger-ui', deepLinking: true, "
        "presets: [SwaggerUIBundle.presets.apis], layout: 'BaseLayout'});\n"
    )


def install_docs(app: FastAPI, prefix: str) -> None:
    """Serve the reference page and its assets under `<prefix>/docs`."""
    folder = swagger_ui_dir()
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
    cached = {**headers, "Cache-Control": "public, max-age=86400"}
    openapi_url = app.openapi_url or f"{prefix}/openapi.json"

    @app.get(f"{prefix}/docs", include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        return HTMLResponse(page(prefix, f"{app.title} reference"), headers=headers)

    @app.get(f"{prefix}/docs/assets/init.js", include_in_schema=False)
    async def docs_init() -> Response:
        return PlainTextResponse(init_script(openapi_url), media_type="text/javascript", headers=cached)

    @app.get(f"{prefix}/docs/assets/{{name}}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        media_type = ASSETS.get(name)
        if media_type is None:
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(folder / name, media_type=media_type, headers=cached)
