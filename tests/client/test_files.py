"""Local file upload, contents info/download, and the token-host rules."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from django_webexteams.client import (
    GoneError,
    MalformedResponseError,
    PreconditionRequiredError,
    WebexClient,
)
from django_webexteams.client.files import parse_content_disposition, prepare_file, safe_filename

from .conftest import BASE_URL, TOKEN, body_of

MESSAGE = {"id": "M1", "roomId": "R", "files": [f"{BASE_URL}/contents/C1"]}


def _multipart(call: Any) -> bytes:
    body = call.request.body
    return body if isinstance(body, bytes) else body.read()


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.4 fake")
    return path


@pytest.mark.parametrize(
    ("make", "filename", "ctype", "data"),
    [
        (lambda p: p, "report.pdf", "application/pdf", b"%PDF-1.4 fake"),
        (lambda p: p.open("rb"), "report.pdf", "application/pdf", b"%PDF-1.4 fake"),
        (lambda p: b"raw bytes", "file", "application/octet-stream", b"raw bytes"),
        (lambda p: ("notes.txt", b"hello", "text/plain"), "notes.txt", "text/plain", b"hello"),
        (lambda p: ("a.csv", io.BytesIO(b"x,y"), None), "a.csv", "text/csv", b"x,y"),
    ],
    ids=["path", "fileobj", "bytes", "tuple-bytes", "tuple-fileobj-guess"],
)
def test_local_file_is_sent_as_multipart(
    make: Any,
    filename: str,
    ctype: str,
    data: bytes,
    report: Path,
    client: WebexClient,
    rsps: responses.RequestsMock,
) -> None:
    rsps.post(f"{BASE_URL}/messages", json=MESSAGE)
    message = client.messages.create(room_id="R", text="see file", files=[make(report)])
    assert message.files == [f"{BASE_URL}/contents/C1"]
    request = rsps.calls[0].request
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    body = _multipart(rsps.calls[0])
    assert f'name="files"; filename="{filename}"'.encode() in body
    assert f"Content-Type: {ctype}".encode() in body
    assert data in body
    assert b'name="roomId"' in body and b"see file" in body
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_single_file_not_in_a_list_is_accepted(
    report: Path, client: WebexClient, rsps: responses.RequestsMock
) -> None:
    rsps.post(f"{BASE_URL}/messages", json=MESSAGE)
    client.messages.create(room_id="R", files=("x.txt", b"1", "text/plain"))
    assert b'filename="x.txt"' in _multipart(rsps.calls[0])


def test_file_url_is_sent_as_json(client: WebexClient, rsps: responses.RequestsMock) -> None:
    rsps.post(f"{BASE_URL}/messages", json=MESSAGE)
    client.messages.create(
        to_person_email="a@example.com", files=["https://www.example.com/images/media.png"]
    )
    assert body_of(rsps.calls[0]) == {
        "toPersonEmail": "a@example.com",
        "files": ["https://www.example.com/images/media.png"],
    }


@pytest.mark.parametrize("url", ["HTTPS://www.example.com/a.png", "Http://example.com/a.png"])
def test_file_url_scheme_is_case_insensitive(
    url: str, client: WebexClient, rsps: responses.RequestsMock
) -> None:
    rsps.post(f"{BASE_URL}/messages", json=MESSAGE)
    client.messages.create(room_id="R", files=[url])
    assert body_of(rsps.calls[0])["files"] == [url]


@pytest.mark.parametrize(
    "value",
    ["/proc/self/environ", "report.pdf", "file:///etc/passwd", "ftp://example.com/x", "https:/x"],
)
def test_a_string_is_never_read_as_a_local_path(
    value: str, report: Path, client: WebexClient, rsps: responses.RequestsMock
) -> None:
    """Attack (issue 16): an app passes a user's "file URL" on; a path string would upload
    the local file (/proc/self/environ holds the encryption keys and the bot token)."""
    with pytest.raises(ValueError, match=r"pathlib\.Path"):
        client.messages.create(room_id="R", files=[value])
    with pytest.raises(ValueError, match=r"pathlib\.Path"):
        client.messages.create(room_id="R", files=[str(report)])  # exists, still refused
    assert len(rsps.calls) == 0


def test_upload_rewinds_file_object_when_resent_after_401(rsps: responses.RequestsMock) -> None:
    client = WebexClient("OLD", on_unauthorized=lambda: "NEW")
    rsps.post(f"{BASE_URL}/messages", status=401)
    rsps.post(f"{BASE_URL}/messages", json=MESSAGE)
    client.messages.create(room_id="R", files=[("a.bin", io.BytesIO(b"PAYLOAD"), None)])
    assert b"PAYLOAD" in _multipart(rsps.calls[1])


@pytest.mark.parametrize(
    "bad",
    [42, object(), "/does/not/exist.txt", ("only-name",), (1, b"x", None)],
)
def test_bad_file_items(bad: Any) -> None:
    with pytest.raises(ValueError):
        prepare_file(bad)


def test_text_mode_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("x")
    with path.open("r") as handle, pytest.raises(ValueError, match="binary"):
        prepare_file(handle)


def test_oversized_file_is_refused_before_sending(
    tmp_path: Path, client: WebexClient, rsps: responses.RequestsMock
) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:
        handle.truncate(100 * 1024 * 1024 + 1)  # sparse
    with pytest.raises(ValueError, match="100 MB"):
        client.messages.create(room_id="R", files=[big])
    assert len(rsps.calls) == 0


def test_card_with_local_upload_is_refused(client: WebexClient) -> None:
    with pytest.raises(ValueError, match="card"):
        client.messages.create(room_id="R", files=[b"x"], attachments=[{"contentType": "c"}])


# -- Content-Disposition -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('attachment; filename="report.pdf"', "report.pdf"),
        ("attachment; filename=report.pdf", "report.pdf"),
        ('attachment; filename="a \\"quoted\\" name.txt"', 'a "quoted" name.txt'),
        ("attachment; filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt", "naïve résumé.txt"),
        ("attachment; filename=\"fallback.txt\"; filename*=UTF-8''%E2%82%AC.txt", "€.txt"),
        ("attachment; filename*=iso-8859-1'en'%A3%20rates.txt", "£ rates.txt"),
        ("attachment; filename*=bogus-charset''x.txt; filename=y.txt", "y.txt"),
        ('inline; FILENAME="Upper.txt"', "Upper.txt"),
        ("attachment", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_content_disposition(header: str | None, expected: str | None) -> None:
    assert parse_content_disposition(header) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Windows\\evil.exe", "evil.exe"),
        ("..", "download"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("", "download"),
        (None, "download"),
        ("ok.txt", "ok.txt"),
    ],
)
def test_safe_filename(name: str | None, expected: str) -> None:
    assert safe_filename(name) == expected


# -- contents.info / download -------------------------------------------------------------
FILE_HEADERS = {
    "Content-Disposition": "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf",
    "Content-Type": "application/pdf",
    "TrackingID": "ROUTER_F",
}


@pytest.mark.parametrize("target", ["C1", f"{BASE_URL}/contents/C1"])
def test_info_uses_head(target: str, client: WebexClient, rsps: responses.RequestsMock) -> None:
    rsps.head(f"{BASE_URL}/contents/C1", headers={**FILE_HEADERS, "Content-Length": "1234"})
    info = client.contents.info(target)
    assert (info.filename, info.content_type, info.size, info.tracking_id) == (
        "résumé.pdf",
        "application/pdf",
        1234,
        "ROUTER_F",
    )
    assert rsps.calls[0].request.method == "HEAD"
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_download_to_path_stream_and_directory(
    tmp_path: Path, client: WebexClient, rsps: responses.RequestsMock
) -> None:
    payload = b"0123456789" * 10_000
    for _ in range(3):
        rsps.get(f"{BASE_URL}/contents/C1", body=payload, headers=FILE_HEADERS)
    info = client.contents.download("C1", tmp_path / "out.pdf")
    assert (tmp_path / "out.pdf").read_bytes() == payload and info.size == len(payload)
    buffer = io.BytesIO()
    client.contents.download(f"{BASE_URL}/contents/C1", buffer, chunk_size=1000)
    assert buffer.getvalue() == payload
    client.contents.download("C1", tmp_path)
    assert (tmp_path / "résumé.pdf").read_bytes() == payload
    assert not list(tmp_path.glob(".webex-download-*"))


def test_download_into_directory_cannot_escape_it(
    tmp_path: Path, client: WebexClient, rsps: responses.RequestsMock
) -> None:
    target = tmp_path / "inbox"
    target.mkdir()
    rsps.get(
        f"{BASE_URL}/contents/C1",
        body=b"x",
        headers={"Content-Disposition": 'attachment; filename="../../escape.sh"'},
    )
    client.contents.download("C1", target)
    assert (target / "escape.sh").exists() and not (tmp_path / "escape.sh").exists()


def test_truncated_download_leaves_nothing(
    tmp_path: Path, client: WebexClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(
        f"{BASE_URL}/contents/C1",
        body=b"short",
        headers={**FILE_HEADERS, "Content-Length": "100"},
        auto_calculate_content_length=False,
    )
    with pytest.raises(MalformedResponseError) as info:
        client.contents.download("C1", tmp_path / "out.pdf")
    assert "ROUTER_F" in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("status", "cls"), [(410, GoneError), (428, PreconditionRequiredError)])
def test_download_errors(
    status: int,
    cls: type[Exception],
    tmp_path: Path,
    client: WebexClient,
    rsps: responses.RequestsMock,
) -> None:
    rsps.get(f"{BASE_URL}/contents/C1", status=status, json={"message": "no"})
    with pytest.raises(cls):
        client.contents.download("C1", tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


def test_allow_unscannable(
    tmp_path: Path, client: WebexClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(f"{BASE_URL}/contents/C1?allow=unscannable", body=b"x")
    client.contents.download("C1", tmp_path / "x", allow_unscannable=True)
    assert str(rsps.calls[0].request.url).endswith("?allow=unscannable")


# -- SECURITY: where the token may go ------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/v1/contents/C1",
        "https://webexapis.com.evil.example/v1/contents/C1",
        "https://evil.example@webexapis.com/v1/contents/C1",  # userinfo trick
        "http://webexapis.com/v1/contents/C1",  # plain HTTP to a Webex host
        "ftp://webexapis.com/v1/contents/C1",
    ],
)
def test_file_urls_on_other_hosts_are_refused(
    url: str, tmp_path: Path, client: WebexClient, rsps: responses.RequestsMock
) -> None:
    with pytest.raises(ValueError, match="Refusing"):
        client.contents.info(url)
    with pytest.raises(ValueError, match="Refusing"):
        client.contents.download(url, tmp_path / "x")
    assert len(rsps.calls) == 0  # never fetched at all


@pytest.mark.parametrize(
    "url", ["https://api.ciscospark.com/v1/contents/C1", "https://WEBEXAPIS.com/v1/contents/C1"]
)
def test_known_webex_hosts_get_the_token(
    url: str, client: WebexClient, rsps: responses.RequestsMock
) -> None:
    rsps.head(url, headers={"Content-Length": "1"})
    client.contents.info(url)
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_trusted_hosts_and_custom_base(rsps: responses.RequestsMock) -> None:
    client = WebexClient(
        TOKEN, base_url="http://127.0.0.1:8900/v1", trusted_hosts=["files.example.net"]
    )
    t = client.transport
    assert t.is_trusted("http://127.0.0.1:8900/v1/contents/x")
    assert not t.is_trusted("http://127.0.0.1:8901/v1/contents/x")  # other port
    assert t.is_trusted("https://files.example.net/x")
    assert not t.is_trusted("https://other.example.net/x")


def test_redirect_to_another_host_is_not_followed_with_the_token(
    client: WebexClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(
        f"{BASE_URL}/contents/C1", status=302, headers={"Location": "https://cdn.evil.example/blob"}
    )
    rsps.get("https://cdn.evil.example/blob", body=b"x")
    with pytest.raises(ValueError, match=r"cdn\.evil\.example"):
        client.contents.download("C1", io.BytesIO())
    assert [c.request.url for c in rsps.calls] == [f"{BASE_URL}/contents/C1"]


def test_redirect_on_the_same_host_is_followed(
    client: WebexClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(f"{BASE_URL}/rooms/R1", status=301, headers={"Location": "/v1/rooms/R2"})
    rsps.get(f"{BASE_URL}/rooms/R2", json={"id": "R2"})
    assert client.rooms.get("R1").id == "R2"
    assert rsps.calls[1].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_requests_itself_strips_authorization_on_cross_host_redirects(
    rsps: responses.RequestsMock,
) -> None:
    """Defence in depth: even a plain requests redirect would not carry the header."""
    rsps.get(
        "https://webexapis.com/v1/x",
        status=302,
        headers={"Location": "https://elsewhere.example/y"},
    )
    rsps.get("https://elsewhere.example/y", body=b"ok")
    with requests.Session() as session:
        session.get("https://webexapis.com/v1/x", headers={"Authorization": "Bearer T"})
    assert rsps.calls[0].request.headers.get("Authorization") == "Bearer T"
    assert "Authorization" not in rsps.calls[1].request.headers


def test_scheme_case_does_not_matter(client: WebexClient, rsps: responses.RequestsMock) -> None:
    rsps.head(f"{BASE_URL}/contents/C1", headers={"Content-Length": "1"})
    assert client.contents.info("HTTPS://WebexAPIs.com/v1/contents/C1").size == 1
    with pytest.raises(ValueError):
        client.contents.info("HTTPS://evil.example/v1/contents/C1")
    with pytest.raises(ValueError):
        client.contents.info("file:///etc/passwd")
