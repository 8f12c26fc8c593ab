"""One exception type for business rules, raised by services and mapped once to HTTP
(problem+json in the API, a form error or flash message in pages)."""


class ServiceError(Exception):
    status = 400
    default_code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        status: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field
        if status is not None:
            self.status = status


class NotFound(ServiceError):
    status = 404
    default_code = "not_found"


class Forbidden(ServiceError):
    status = 403
    default_code = "forbidden"


class Conflict(ServiceError):
    status = 409
    default_code = "conflict"
