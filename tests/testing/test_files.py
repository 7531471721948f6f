"""Files: multipart upload on POST /messages, contents GET/HEAD, URL files (fetched when on
loopback), one file per message."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .conftest import assert_webex_error


@pytest.fixture
def file_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"\x89PNG fake image"
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/images/chart.png"
    httpd.shutdown()
    httpd.server_close()


def test_multipart_upload_and_download(fake_webex: Any, alice: Any, bob: Any, api: Any) -> None:
    room = fake_webex.create_room(alice, "Files", members=[bob])
    resp = api(alice).post(
        "/messages",
        data={"roomId": room.id, "text": "report"},
        files={"files": ("rapport é.pdf", b"%PDF-1.4 data", "application/pdf")},
    )
    assert resp.status_code == 200, resp.text
    (url,) = resp.json()["files"]
    assert url.startswith(fake_webex.base_url + "/contents/")
    head = api(bob)("HEAD", url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Type"] == "application/pdf"
    assert head.headers["Content-Length"] == str(len(b"%PDF-1.4 data"))
    assert head.headers["Content-Disposition"].startswith('attachment; filename="rapport ')
    assert "filename*=UTF-8''rapport%20%C3%A9.pdf" in head.headers["Content-Disposition"]
    got = api(bob).get(url)
    assert got.content == b"%PDF-1.4 data" and got.headers["TrackingID"]


def test_contents_need_membership_and_auth(fake_webex: Any, alice: Any, bob: Any, api: Any) -> None:
    room = fake_webex.create_room(alice, "Private files")
    msg = fake_webex.post_message(alice, room.id, file=("a.txt", b"secret", "text/plain"))
    (url,) = msg.files
    assert_webex_error(api(bob).get(url), 404)
    import requests

    assert requests.get(url, timeout=5).status_code == 401


def test_loopback_url_is_fetched(fake_webex: Any, alice: Any, api: Any, file_server: Any) -> None:
    room = fake_webex.create_room(alice, "URL")
    resp = api(alice).post("/messages", json={"roomId": room.id, "files": [file_server]})
    (url,) = resp.json()["files"]
    head = api(alice)("HEAD", url)
    assert head.headers["Content-Type"] == "image/png"
    assert 'filename="chart.png"' in head.headers["Content-Disposition"]
    assert api(alice).get(url).content == b"\x89PNG fake image"


def test_external_url_is_kept_as_reference(fake_webex: Any, alice: Any, api: Any) -> None:
    room = fake_webex.create_room(alice, "URL")
    resp = api(alice).post(
        "/messages", json={"roomId": room.id, "files": ["https://example.com/x.png"]}
    )
    assert resp.json()["files"] == ["https://example.com/x.png"]


def test_unreachable_loopback_url_is_400(fake_webex: Any, alice: Any, api: Any) -> None:
    room = fake_webex.create_room(alice, "URL")
    resp = api(alice).post("/messages", json={"roomId": room.id, "files": ["http://127.0.0.1:9/x"]})
    assert_webex_error(resp, 400)


def test_only_one_file(fake_webex: Any, alice: Any, api: Any) -> None:
    room = fake_webex.create_room(alice, "Two")
    resp = api(alice).post(
        "/messages",
        json={"roomId": room.id, "files": ["https://a.example/1", "https://a.example/2"]},
    )
    assert_webex_error(resp, 400)
    multi = api(alice).post(
        "/messages",
        data={"roomId": room.id},
        files=[("files", ("a.txt", b"a", "text/plain")), ("files", ("b.txt", b"b", "text/plain"))],
    )
    assert_webex_error(multi, 400)


def test_message_with_file_cannot_be_edited(fake_webex: Any, alice: Any, api: Any) -> None:
    room = fake_webex.create_room(alice, "Edit")
    msg = fake_webex.post_message(alice, room.id, text="f", file=("a.txt", b"a", "text/plain"))
    resp = api(alice).put(f"/messages/{msg.id}", json={"roomId": room.id, "text": "new"})
    assert_webex_error(resp, 400)


def test_scan_states(fake_webex: Any, alice: Any, api: Any) -> None:
    room = fake_webex.create_room(alice, "Scan")
    msg = fake_webex.post_message(alice, room.id, file=("a.bin", b"data", "application/pdf"))
    (url,) = msg.files
    fake_webex.set_file_scan(url, "scanning", retry_after=3)
    locked = api(alice).get(url)
    assert_webex_error(locked, 423)
    assert locked.headers["Retry-After"] == "3"
    fake_webex.set_file_scan(url, "infected")
    assert_webex_error(api(alice).get(url), 410)
    fake_webex.set_file_scan(url, "unscannable")
    assert_webex_error(api(alice).get(url), 428)
    assert api(alice).get(url, params={"allow": "unscannable"}).content == b"data"
    fake_webex.set_file_scan(url, "clean")
    assert api(alice).get(url).content == b"data"
