"""The SMART App Launch 2.2 authorization server: ``/auth/*`` and the discovery documents.

Authlib does the OAuth 2.0 work (grants, client authentication, PKCE); the modules here adapt
it to Starlette, keep its state in MongoDB and render the login, consent and patient pages."""
