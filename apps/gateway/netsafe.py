"""Connect-time upstream address check: the aiohttp resolver refuses private, loopback,
link-local and metadata addresses (unless UPSTREAM_ALLOW_PRIVATE), so a DNS name that
starts pointing inside after the listing was saved is still refused."""

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import DefaultResolver

from apps.core.url_safety import is_public_address


class UnsafeAddress(OSError):
    pass


class SafeResolver(AbstractResolver):
    def __init__(self, allow_private_check):
        self.inner = DefaultResolver()
        self.allow_private = allow_private_check

    async def resolve(self, host, port=0, family=0):
        addresses = await self.inner.resolve(host, port, family)
        if self.allow_private():
            return addresses
        safe = [a for a in addresses if is_public_address(a["host"])]
        if not safe:
            raise UnsafeAddress(f"{host} resolves only to private or reserved addresses")
        return safe

    async def close(self):
        await self.inner.close()
