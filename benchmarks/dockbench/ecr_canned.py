"""A do-nothing HTTP server that answers every POST with one canned body: the boto3 floor.

    python -m dockbench.ecr_canned PORT BODY_FILE

ecr_bench.py captures the body of a real default DescribeImages page from Dockyard, serves it
from here and times boto3's describe_images against it. What remains is the client's own cost
(signing, urllib3, botocore's parsing of 100 image details) plus a minimal server: the part of a
page's latency no server can remove.
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Canned(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's pool expects
    body = b"{}"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        # One write for head and body: two small writes meet Nagle and delayed ACKs (+40 ms).
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\n"
            f"x-amzn-RequestId: canned\r\nContent-Length: {len(self.body)}\r\n\r\n"
        )
        self.wfile.write(head.encode() + self.body)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    port, body_file = int(sys.argv[1]), sys.argv[2]
    with open(body_file, "rb") as f:
        Canned.body = f.read()
    HTTPServer(("127.0.0.1", port), Canned).serve_forever()


if __name__ == "__main__":
    main()
