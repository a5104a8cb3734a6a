"""The XML-RPC wire helpers on their own."""

from __future__ import annotations

import datetime
import xmlrpc.client

from warehouse.xmlrpc.protocol import dumps_name_int_struct, dumps_result, dumps_rows, xml_safe


def test_the_fast_struct_is_byte_for_byte_what_xmlrpc_client_writes():
    items = [("plain", 1), ("a&b<c>d", 2), ("snowman-\u2603", 2**31 - 1), ("", 0)]
    expected = xmlrpc.client.dumps((dict(items),), methodresponse=True, allow_none=True)
    assert dumps_name_int_struct(items) == expected.encode("utf-8")
    assert dumps_name_int_struct([]) == dumps_result({})


def test_the_fast_struct_falls_back_for_integers_xmlrpc_cannot_carry():
    body = dumps_name_int_struct([("big", 2**31)])
    ((value,), _) = xmlrpc.client.loads(body)
    assert value == {"big": 2.0**31}


def test_the_fast_rows_are_byte_for_byte_what_xmlrpc_client_writes():
    rows = [
        ("plain", "1.0", 1_700_000_000, "new release", 1),
        ("a&b<c>d", None, 0, "add source file a&b-1.0.tar.gz", 2**31 - 1),
        ("snowman-\u2603", "2\x00beta", -(2**31), "remove \x1f", 3),
        (),
    ]
    assert dumps_rows(rows) == dumps_result(rows)
    assert dumps_rows([]) == dumps_result([])
    ((value,), _) = xmlrpc.client.loads(dumps_rows(rows))
    assert value[1] == ["a&b<c>d", None, 0, "add source file a&b-1.0.tar.gz", 2**31 - 1]
    assert value[2][1] == "2\ufffdbeta"


def test_the_fast_rows_fall_back_for_values_they_do_not_write():
    for odd in (2**31, 1.5, True, datetime.datetime(2024, 1, 2)):
        rows = [("name", odd)]
        assert dumps_rows(rows) == dumps_result(rows)


def test_xml_safe():
    moment = datetime.datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    assert xml_safe({"k\x00": ["a\x1fb", 2**40, moment, None, True, 1.5]}) == {
        "k\ufffd": [
            "a\ufffdb",
            float(2**40),
            datetime.datetime(2024, 1, 2, 1, 4, 5),
            None,
            True,
            1.5,
        ]
    }
    # Whatever xml_safe returns, xmlrpc.client can write and read back.
    xmlrpc.client.loads(dumps_result({"text": "tab\tline\nform\x0cfeed\ud800"}))
