"""Side-by-side benchmark of Dockyard and CNCF distribution (``docker-registry``).

Modules:

- ``data``      test data generated once per session: a random blob template and OCI layout images
- ``procstat``  CPU seconds and resident memory of a server process tree, read from /proc
- ``servers``   start, wait for, and stop each registry on a free loopback port
- ``client``    a minimal OCI Distribution client on ``http.client`` (sendfile uploads)
- ``scenarios`` one function per measured figure
- ``report``    medians, ratios against the targets, Markdown and JSON output
"""
