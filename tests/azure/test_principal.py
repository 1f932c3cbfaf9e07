"""The deployer's principal type, read from its login's access token: a user's (delegated, with ``scp``) or a
service principal's or managed identity's (app-only, without); anything that is no JWT is refused in one line."""

from __future__ import annotations

import pytest

from components.azure.principal import principal_type
from tests.aws.mocks import APP_TOKEN, USER_TOKEN, access_token


def test_a_signed_in_user_is_a_user() -> None:
    assert principal_type(USER_TOKEN) == "User"
    # a guest or work account signed in through the Azure CLI: delegated, whatever else its token says
    assert principal_type(access_token({"scp": "user_impersonation", "idtyp": "user", "upn": "a@b.example"})) == "User"


def test_a_service_principal_or_a_managed_identity_is_a_service_principal() -> None:
    assert principal_type(APP_TOKEN) == "ServicePrincipal"  # a CI login with a secret, a certificate or OIDC
    # a managed identity's token: app-only, with the identity's resource id and no scopes
    assert principal_type(access_token({"oid": "mi", "xms_mirid": "/subscriptions/s/resourcegroups/g/providers/"
                                        "Microsoft.ManagedIdentity/userAssignedIdentities/ci"})) == "ServicePrincipal"


@pytest.mark.parametrize("token", ["opaque-token", "a.b.c", "a.W10.c", ""])  # W10 is base64 of [] (no claims object)
def test_a_token_that_is_no_jwt_is_refused_in_one_line(token: str) -> None:
    with pytest.raises(ValueError) as refused:
        principal_type(token)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("reading the deployer's principal type: ")
