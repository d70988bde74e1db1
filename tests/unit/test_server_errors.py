import grpc
import ray
from ray.exceptions import RayTaskError

from supreme.core.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from supreme.server.errors import status_for


def test_domain_errors_map_to_their_status_codes_with_their_message():
    cases = [
        (InvalidArgument("price must be > 0"), grpc.StatusCode.INVALID_ARGUMENT),
        (ValueError("high must be >= low"), grpc.StatusCode.INVALID_ARGUMENT),
        (NotFound("no strategy 'x'"), grpc.StatusCode.NOT_FOUND),
        (AlreadyExists("instance exists"), grpc.StatusCode.ALREADY_EXISTS),
        (FailedPrecondition("trading is halted"), grpc.StatusCode.FAILED_PRECONDITION),
        (ResourceExhausted("queue full"), grpc.StatusCode.RESOURCE_EXHAUSTED),
    ]
    for exc, code in cases:
        assert status_for(exc) == (code, str(exc))


def test_unexpected_errors_are_internal_without_their_text():
    code, message = status_for(RuntimeError("secret path /home/x"))
    assert code is grpc.StatusCode.INTERNAL and "secret" not in message
    # A KeyError from a bug is not a NOT_FOUND answer.
    assert status_for(KeyError("k"))[0] is grpc.StatusCode.INTERNAL


def test_an_actor_side_error_is_mapped_by_its_cause_without_the_remote_traceback():
    cause = InvalidArgument("unknown risk config key(s) ['nope']")
    wrapped = RayTaskError("RiskActor.update_limits", 'Traceback...\n  File "/srv/x.py"', cause)
    code, message = status_for(wrapped)
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert message == str(cause) and "File" not in message


def test_an_unreachable_actor_is_unavailable():
    code, _ = status_for(ray.exceptions.RayActorError())
    assert code is grpc.StatusCode.UNAVAILABLE
