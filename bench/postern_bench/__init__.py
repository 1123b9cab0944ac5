"""bench/run as a package: common (paths, constants), processes (starting
and stopping nginx, Apache, the gateway), peers, topologies (the rows and
the snippets rendered as the integration tests render them), build
(packages, the Release build), rounds (ab and wrk), report (markdown, csv,
chart) and cli (the command line)."""
