"""moto_server, handling one request at a time.

moto's TransactWriteItems is not atomic against other requests: it snapshots the tables
it touches, checks the conditions without a lock, and on a failed condition restores the
snapshot, undoing any write another request made to those tables meanwhile (moto 5.2.1,
moto/dynamodb/models/__init__.py). Real DynamoDB never loses such a write, so with a
threaded moto the tests could fail (a cancel, a backstop or a step's write vanishing)
where AWS would not. Handling requests one at a time makes each call atomic, as in AWS.

Usage: the arguments of `moto_server` (e.g. -H 127.0.0.1 -p 5000).
"""

import sys
import threading

import moto.server as server

_lock = threading.Lock()
_run_simple = server.run_simple


def _serialized_run_simple(host, port, app, **kwargs):
    def serialized(environ, start_response):
        with _lock:
            # moto builds its responses eagerly; the whole body is made under the lock.
            return list(app(environ, start_response))

    _run_simple(host, port, serialized, **kwargs)


server.run_simple = _serialized_run_simple
server.main(sys.argv[1:])
