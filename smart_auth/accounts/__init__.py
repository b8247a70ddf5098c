"""Accounts: the people who log in (``users``) and the apps and systems that ask for tokens
(``clients``), kept in MongoDB; their secrets are argon2id hashes (``passwords``), a second
factor is TOTP (``totp``). Managed through ``medrec users|clients`` and the admin API."""
