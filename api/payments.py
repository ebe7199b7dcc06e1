"""Payment providers behind the PaymentRefunds port.

The development provider succeeds at once with a made-up reference, so the whole
return flow works locally; a real provider (asynchronous, answering later through
`refundProviderCallback`) plugs in here."""

from __future__ import annotations

import secrets

from domain.ports import RefundResult


class DevelopmentRefunds:
    async def refund(self, *, reference: str, amount_minor: int, currency: str) -> RefundResult:
        return RefundResult(succeeded=True, provider_reference=f"dev_{secrets.token_hex(8)}")
