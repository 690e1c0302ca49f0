"""Who may do what: roles, accounts and sessions, sign-in, audit log, user admin, serving policy."""
