"""MkDocs hooks for the course site (named in the config helpers/publishing/site.py writes).

mkdocs-jupyter renders a notebook with nbconvert, so MkDocs never sees the
notebook's Markdown and does not do for it what it does for a .md page:

* relative links and images keep their source names (``03-alb-security-group.ipynb``,
  ``../diagrams/network.png``): here they become the URLs of the rendered page
  or copied file, and one that names no file of the site fails the build;
* nbconvert adds a MathJax loader (from a CDN, or with an empty address) and,
  in some versions, a Mermaid loader from a CDN: the notebooks use neither
  (site.py refuses a notebook that does), and the site must render offline,
  so both are removed;
* each notebook page gets a download button for its .ipynb.
"""

from __future__ import annotations

import logging
import posixpath
import re
from urllib.parse import unquote, urlsplit

log = logging.getLogger("mkdocs.hooks.course")

REFERENCE = re.compile(r'(?P<attr>\b(?:href|src))="(?P<url>[^"]*)"')
MATHJAX = re.compile(r'<!-- Load mathjax -->\s*<script src="[^"]*">\s*</script>')
MERMAID = re.compile(
    r'<script type="module">(?:(?!</script>).)*?import\("https://[^"]*mermaid(?:(?!</script>).)*</script>', re.DOTALL
)

# Material Design's "download" icon (as shipped with mkdocs-material).
DOWNLOAD_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><path d="M5 20h14v-2H5m14-9h-4V3H9v6H5l7 7z"/></svg>'
)


def _is_notebook(page) -> bool:
    return page.file.src_uri.endswith(".ipynb")


def on_page_content(html, page, config, files):
    if not _is_notebook(page):
        return html  # Markdown pages: MkDocs resolves their links itself
    broken = []

    def rewrite(match):
        url = match.group("url")
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or url.startswith(("#", "/")) or not parts.path:
            return match.group(0)  # external, absolute or same-page: unchanged
        target = posixpath.normpath(posixpath.join(posixpath.dirname(page.file.src_uri), unquote(parts.path)))
        found = files.get_file_from_path(target)
        if found is None:
            broken.append(url)
            return match.group(0)
        new = found.url_relative_to(page.file) + (f"#{parts.fragment}" if parts.fragment else "")
        return f'{match.group("attr")}="{new}"'

    html = REFERENCE.sub(rewrite, html)
    for url in broken:
        log.warning("%s links to '%s', which is not a file of the course site", page.file.src_uri, url)

    html = MATHJAX.sub("", html)
    html = MERMAID.sub("", html)
    # mkdocs-jupyter copies the .ipynb beside the page (include_source); offer it.
    name = posixpath.basename(page.file.src_uri)
    return (
        f'<a href="{name}" download class="md-content__button md-icon" title="Download the notebook '
        f'{name}">{DOWNLOAD_ICON}</a>\n' + html
    )
