"""Whether whoever deploys is a user or a service principal (a managed identity is one), which a role assignment
naming the deployer must say: azure-native fills an unset ``principalType`` with ``User``, and Azure refuses an
assignment whose type is not the principal's (``UnmatchedPrincipalType``), so a deploy from CI would fail.

Neither ``getClientConfig`` (client, object, tenant and subscription ids) nor the provider's configuration says which
it is; the access token of the same login does. A delegated token, issued to a user, carries the ``scp`` claim (the
scopes the user consented to); an app-only token, issued to a service principal or a managed identity, never does
(Microsoft identity platform, access token claims reference). The azure-native provider reads the object id behind
``getClientConfig`` (the ``oid`` claim), and whether it signed in as a service principal, from this login's token
claims too (``provider/pkg/provider/auth_getclientconfig.go``): this reading is no weaker than the object id's.
"""

from __future__ import annotations

import base64
import json
from typing import Literal

PrincipalType = Literal["User", "ServicePrincipal"]


def principal_type(access_token: str) -> PrincipalType:
    """``User`` for a delegated token, ``ServicePrincipal`` for an app-only one (service principal, managed
    identity)."""
    claims = _claims(access_token)
    if claims is None:
        raise ValueError("reading the deployer's principal type: the Azure login's access token is no JWT, so it "
                         "cannot tell a user from a service principal; sign in with `az login`, a service principal "
                         "(AZURE_CLIENT_ID, AZURE_CLIENT_SECRET) or a managed identity")
    return "User" if "scp" in claims else "ServicePrincipal"


def _claims(access_token: str) -> dict[str, object] | None:
    """The token's payload (its middle part, base64url without padding), or None when it is no JWT."""
    parts = access_token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors too
        return None
    return claims if isinstance(claims, dict) else None
