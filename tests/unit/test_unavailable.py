import errno

import botocore.exceptions
import redis
import sqlalchemy as sa

from warehouse.unavailable import response_for, what_is_down


def test_backend_errors_are_named_and_bugs_are_not():
    assert "database" in what_is_down(sa.exc.OperationalError("SELECT 1", {}, Exception("x")))
    assert "Redis" in what_is_down(redis.ConnectionError("refused"))
    assert "file store" in what_is_down(
        botocore.exceptions.EndpointConnectionError(endpoint_url="http://s3")
    )
    assert "no room" in what_is_down(OSError(errno.ENOSPC, "full"))
    assert what_is_down(OSError(errno.ENOENT, "gone")) is None
    assert what_is_down(ValueError("a bug")) is None


def test_a_wrapped_backend_error_is_found_through_its_causes():
    try:
        try:
            raise redis.TimeoutError("slow")
        except redis.TimeoutError as exc:
            raise RuntimeError("wrapped") from exc
    except RuntimeError as wrapped:
        assert "Redis" in what_is_down(wrapped)


def test_a_store_answering_5xx_is_down_but_a_403_is_not():
    def client_error(status):
        return botocore.exceptions.ClientError(
            {"Error": {"Code": "X"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
        )

    assert what_is_down(client_error(503)) is not None
    assert what_is_down(client_error(403)) is None


def test_the_response_is_a_503_whose_reason_says_why():
    response = response_for(redis.ConnectionError("refused"))
    assert response.status_code == 503
    assert "Redis" in response.status and response.headers["Retry-After"]
    assert response.text.startswith("Service unavailable")
    assert response_for(KeyError("bug")) is None
