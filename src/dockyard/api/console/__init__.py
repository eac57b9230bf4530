"""The web console: server-rendered HTML under /ui, the third adapter over the same services.

    routes.py          the URL table
    web.py             templates, sessions on requests, CSRF, error pages, security headers
    auth_pages.py      sign in / sign out
    list_pages.py      repositories, images of a repository, storage
    image_pages.py     one image, its findings, its confirmed actions
    settings_pages.py  tag mutability, scanning, repository policy; lifecycle placeholder
    charts.py          the severity chart's geometry (inline SVG, drawn by a template)
    templates/, static/  Jinja2 templates and the one stylesheet and script (no CDN, no build)

No rule lives here: reads go through services/console.py, changes through the service
functions the ECR handlers call, and their errors are shown with their own messages.
"""
