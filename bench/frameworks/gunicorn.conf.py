"""gunicorn settings shared by every benchmarked stack; overhttp.py passes bind, workers, class.

Passed with -c on purpose: without it gunicorn would read the repository's own
gunicorn.conf.py (from --chdir), whose worker recycling is a production policy
the peers would not get.
"""

import os

accesslog = None  # no stack logs a line per request
errorlog = "-"
loglevel = "warning"
# As in production: a disk-backed /tmp can stall the heartbeat (gunicorn's FAQ).
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
keepalive = 5
timeout = 30
# Many servers run at once; each would otherwise claim the same per-user control socket.
control_socket_disable = True
