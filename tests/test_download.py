"""The real download code, against a small file served by the test itself on 127.0.0.1."""
import hashlib
import http.server
import os
import re
import threading

import pytest

from galaxy_core.data.download import download
from galaxy_core.errors import UserError

PAYLOAD = os.urandom(3 * 2**20 + 12345)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Server:
    def __init__(self, ranges=True, cut_after=None):
        self.ranges, self.cut_after, self.requests = ranges, cut_after, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append(self.headers.get("Range"))
                if self.path != "/Galaxy10_DECals.h5":
                    self.send_error(404, "Not Found")
                    return
                start = 0
                match = re.match(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match and server.ranges:
                    start = int(match.group(1))
                    if start >= len(PAYLOAD):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
                else:
                    self.send_response(200)
                body = PAYLOAD[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_after is not None:  # drop the connection part-way, once
                    body, server.cut_after = body[: server.cut_after], None
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/Galaxy10_DECals.h5"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def test_full_download_verifies_and_lands_atomically(server, tmp_path):
    seen = []
    out = download(tmp_path / "g.h5", url=server.url, sha256=SHA, progress=lambda done, total: seen.append((done, total)))
    assert out.read_bytes() == PAYLOAD and not (tmp_path / "g.h5.part").exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert download(tmp_path / "g.h5", url=server.url, sha256=SHA) == out  # already there: nothing fetched
    assert len(server.requests) == 1


def test_resumes_a_partial_download_with_a_range_request(server, tmp_path):
    (tmp_path / "g.h5.part").write_bytes(PAYLOAD[:1_000_000])
    out = download(tmp_path / "g.h5", url=server.url, sha256=SHA)
    assert out.read_bytes() == PAYLOAD
    assert server.requests == ["bytes=1000000-"]


def test_connection_dropped_midway_is_resumed_within_the_same_call(tmp_path):
    server = Server(cut_after=500_000)
    try:
        out = download(tmp_path / "g.h5", url=server.url, sha256=SHA, timeout=5)
        assert out.read_bytes() == PAYLOAD and server.requests[1] == "bytes=500000-"
    finally:
        server.close()


def test_server_without_range_support_restarts_cleanly(tmp_path):
    server = Server(ranges=False)
    try:
        (tmp_path / "g.h5.part").write_bytes(b"stale bytes from some other file")
        assert download(tmp_path / "g.h5", url=server.url, sha256=SHA).read_bytes() == PAYLOAD
    finally:
        server.close()


def test_complete_part_file_is_finished_without_refetching(server, tmp_path):
    (tmp_path / "g.h5.part").write_bytes(PAYLOAD)
    assert download(tmp_path / "g.h5", url=server.url, sha256=SHA).read_bytes() == PAYLOAD


def test_checksum_mismatch_never_leaves_a_file_under_the_final_name(server, tmp_path):
    with pytest.raises(UserError, match="SHA256 does not match"):
        download(tmp_path / "g.h5", url=server.url, sha256="0" * 64)
    assert not (tmp_path / "g.h5").exists() and not (tmp_path / "g.h5.part").exists()


def test_http_errors_and_bad_arguments_are_one_sentence(server, tmp_path):
    with pytest.raises(UserError, match="404"):
        download(tmp_path / "g.h5", url=server.url.replace("Galaxy10_DECals.h5", "nope"), sha256=SHA)
    with pytest.raises(UserError, match="64 hexadecimal"):
        download(tmp_path / "g.h5", url=server.url, sha256="abc")
    (tmp_path / "mine.h5").write_bytes(b"the user's own file")
    with pytest.raises(UserError, match="already exists"):
        download(tmp_path / "mine.h5", url=server.url, sha256=SHA)
    assert (tmp_path / "mine.h5").read_bytes() == b"the user's own file"


def test_unreachable_server_says_how_to_resume(tmp_path):
    with pytest.raises(UserError, match="run the same command again to resume"):
        download(tmp_path / "g.h5", url="http://127.0.0.1:9/Galaxy10_DECals.h5", sha256=SHA, timeout=2, attempts=2)
