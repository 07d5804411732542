# Baseline: Python's socketserver.UDPServer echo, as the seed tutorials would write it.
import socketserver
import sys


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


with socketserver.UDPServer(("127.0.0.1", 0), Echo) as server:
    print("listening on 127.0.0.1:%d" % server.server_address[1], file=sys.stderr, flush=True)
    server.serve_forever()
