"""Identity, the OAuth2 / OpenID Connect authorization server and the resource-server guards."""
