"""The testbed's static site: an mkdocs plugin that turns scenarios and manifests into pages.

``plugin.RadiopsPlugin`` is registered as the mkdocs plugin ``radiops``; the
other modules each do one part of its work (reading the repository, plots,
safe Markdown, downloads, page rendering, the build cache).
"""
