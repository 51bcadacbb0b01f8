"""The stream's parsers: SSE events and HTTP/1.1 framing, fed in any split the network makes."""

from __future__ import annotations

import pytest

from rollsafe.sdk.sse import (
    ChunkedDecoder,
    EventTooLargeError,
    HTTPFramingError,
    ServerEvent,
    SSEParser,
    parse_head,
)

STREAM = (
    b": heartbeat\n\n"
    b'id: 7\r\nevent: unleash-connected\r\ndata: {"a":\r\ndata:  1}\r\n\r\n'
    b"event: ignored-without-data\n\n"
    b"id: 8\nevent: unleash-updated\ndata: caf\xc3\xa9\n\n"
    b"data: plain\nid: bad\x00id\n\n"
)
EVENTS = [
    ServerEvent("unleash-connected", '{"a":\n 1}', "7"),
    ServerEvent("unleash-updated", "café", "8"),
    ServerEvent("message", "plain", None),
]


def sse_in_pieces(data: bytes, size: int) -> list[ServerEvent]:
    parser = SSEParser()
    events: list[ServerEvent] = []
    for start in range(0, len(data), size):
        events += parser.feed(data[start : start + size])
    return events


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_events_are_the_same_however_the_bytes_are_split(size: int) -> None:
    assert sse_in_pieces(STREAM, size) == EVENTS


def test_the_last_event_id_survives_events_without_data() -> None:
    parser = SSEParser()
    parser.feed(b"id: 9\n\n")
    assert parser.last_id == "9"


def test_an_event_over_the_limit_is_refused_even_before_its_line_ends() -> None:
    with pytest.raises(EventTooLargeError):
        SSEParser(max_event_bytes=10).feed(b"data: 0123456789abc\n")
    with pytest.raises(EventTooLargeError):
        SSEParser(max_event_bytes=10).feed(b"data: 0123456789abc")


def chunked(*payloads: bytes, extension: bytes = b"") -> bytes:
    body = b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in payloads)
    return body + b"0\r\nX-Trailer: yes\r\n\r\n"


@pytest.mark.parametrize("size", [1, 2, 5, 1000])
def test_a_chunked_body_decodes_the_same_however_it_is_split(size: int) -> None:
    payloads = [b"event: a\ndata: 1\n\n", b"x" * 300, b"\r\n\r\n"]
    data = chunked(*payloads, extension=b";name=value") + b"after the end"
    decoder = ChunkedDecoder()
    out = b"".join(decoder.feed(data[i : i + size]) for i in range(0, len(data), size))
    assert out == b"".join(payloads)
    assert decoder.done


def test_one_whole_chunk_per_read_is_the_fast_path_and_gives_the_same() -> None:
    decoder = ChunkedDecoder()
    assert decoder.feed(b"5\r\nhello\r\n") == b"hello"
    assert decoder.feed(b"1\r\n!\r\n2\r\nab") == b"!ab"  # then a chunk split across reads
    assert decoder.feed(b"\r\n") == b""
    assert decoder.feed(b"0\r\n\r\n") == b""
    assert decoder.done


@pytest.mark.parametrize(
    "data",
    [b"zz\r\nhello\r\n", b"0x5\r\nhello\r\n", b"+5\r\nhello\r\n", b"5\r\nhelloXX", b"1" * 5000],
)
def test_malformed_chunks_are_refused(data: bytes) -> None:
    with pytest.raises(HTTPFramingError):
        ChunkedDecoder().feed(data)


def test_a_response_head_gives_its_status_and_headers() -> None:
    status, headers = parse_head(
        b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
        b"Vary: a\r\nvary:b\r\nX-Empty:"
    )
    assert status == 401
    assert headers == {"content-type": "application/json", "vary": "a, b", "x-empty": ""}


@pytest.mark.parametrize(
    "head", [b"HTTP/2 200 OK", b"ICY 200 OK", b"HTTP/1.1 2000", b"HTTP/1.1 200 OK\r\nno colon"]
)
def test_a_malformed_head_is_refused(head: bytes) -> None:
    with pytest.raises(HTTPFramingError):
        parse_head(head)
