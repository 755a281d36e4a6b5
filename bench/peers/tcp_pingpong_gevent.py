# TCP ping-pong with gevent, client and server greenlets in one process: a
# peer figure for bench/tcp_pingpong.ts. Prints one JSON line.
#
#   python3 bench/peers/tcp_pingpong_gevent.py ROUNDS SIZE
import json
import socket
import sys
import time

import gevent
from gevent import socket as gsocket
from gevent.server import StreamServer

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
size = int(sys.argv[2]) if len(sys.argv) > 2 else 1


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return b""
        data += chunk
    return data


def echo(sock, _address):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        data = read_exact(sock, size)
        if not data:
            break
        sock.sendall(data)


server = StreamServer(("127.0.0.1", 0), echo)
server.start()
client = gsocket.create_connection(("127.0.0.1", server.server_port))
client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
message = b"x" * size
start = time.perf_counter()
for _ in range(rounds):
    client.sendall(message)
    read_exact(client, size)
elapsed = time.perf_counter() - start
print(json.dumps({"roundTripsPerSecond": rounds / elapsed}))
client.close()
server.stop()
