from rest_framework import authentication, exceptions

from .models import Membership
from .services import access_token_authenticate


class AccessTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer tgp_…`. The token acts for its organization, as the member who
    created it (who must still belong to it)."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        parts = header.split()
        if not parts or parts[0] != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        token = access_token_authenticate(parts[1])
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        user = token.created_by
        still_member = (
            user is not None
            and user.is_active
            and Membership.objects.filter(user=user, organization=token.organization_id).exists()
        )
        if not still_member:
            raise exceptions.AuthenticationFailed("The token's creator left the organization.")
        return user, token

    def authenticate_header(self, request):
        return self.keyword
