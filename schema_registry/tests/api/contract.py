"""What every schema registry API test checks of an error: the contract's body, with the status and code expected."""

CONTRACT_ERROR = {"status_code", "error_code", "message", "details"}


def error_body(response, status_code: int, error_code: str) -> dict:
    """The contract's error body, with the status and code expected."""
    body = response.json()
    assert set(body) == CONTRACT_ERROR, body
    assert (response.status_code, body["status_code"], body["error_code"]) == (status_code, status_code, error_code), (
        body
    )
    assert isinstance(body["message"], str) and body["message"] and isinstance(body["details"], dict), body
    return body
