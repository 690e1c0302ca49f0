"""Users page (admins): local accounts and their roles. Each change is checked and audited in access.admin."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from access import admin
from access.roles import ROLES
from library.accounts import add_account
from medcore.errors import MedEmbedError
from ui import common, gate

user = gate.page_user("admin", "The Users page")
settings = common.settings()
store = common.store(settings)
st.title("Users")
st.caption("Local accounts. People signing in through OpenID Connect get their role from auth.admin_emails, "
           "auth.curator_emails or auth.role_claim (see docs/deploy.md). The CLI does the same: `medembed users`.")

accounts = admin.list_users(store, user)
if accounts:
    st.dataframe(pd.DataFrame([{
        "user": a.username, "role": a.role, "created (UTC)": a.created_at.strftime("%Y-%m-%d %H:%M"),
        "last sign-in (UTC)": a.last_login_at.strftime("%Y-%m-%d %H:%M") if a.last_login_at else "never",
    } for a in accounts]), hide_index=True, width="stretch")
else:
    st.info("No accounts yet: the app runs open on localhost. The first account below is an admin: once it exists, "
            "sign-in is required, and the reading list and recent searches saved so far become that account's.")
if accounts and not any(a.role == "admin" for a in accounts):
    st.warning(admin.NO_ADMIN, icon=":material/warning:")

st.subheader("Add an account")
with st.form("users_add", clear_on_submit=True):
    c1, c2 = st.columns([3, 1])
    name = c1.text_input("User name")
    role = c2.selectbox("Role", ROLES, index=ROLES.index(admin.default_role(store)),
                        help="The first account is an admin, so that someone can manage accounts once sign-in is "
                             "required; later ones are readers unless you choose otherwise.")
    password = st.text_input("Password", type="password", autocomplete="new-password")
    again = st.text_input("Password again", type="password", autocomplete="new-password")
    if st.form_submit_button("Add account", type="primary"):
        try:
            if password != again:
                raise MedEmbedError("The two passwords differ; type them again.")
            added = add_account(store, user, name, role, password)
        except MedEmbedError as exc:
            st.error(str(exc))
        else:
            st.success(f"Added {added.username} ({added.role}).")
            if not accounts:  # sign-in is required from now on: this open-mode session ends with this page
                gate.sign_in_link(f"Sign in as {added.username}", "/")

if accounts:
    st.subheader("Change or remove")
    c1, c2, c3, c4 = st.columns([3, 2, 1, 1], vertical_alignment="bottom")
    who = c1.selectbox("Account", [a.username for a in accounts], key="users_who")
    new_role = c2.selectbox("New role", ROLES, key="users_role")
    try:
        if c3.button("Set role", key="users_set_role"):
            admin.set_role(store, user, who, new_role)
            st.rerun()
        if c4.button("Remove", key="users_remove"):
            admin.remove_user(store, user, who)
            st.rerun()
    except MedEmbedError as exc:
        st.error(str(exc))
