from .errors import ServiceError


def add_service_error(form, error: ServiceError) -> None:
    """Show a business-rule error next to its field, or above the form."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)
