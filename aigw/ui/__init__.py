"""The admin console at /ui: sign-in sessions, the static single-page app, its security
headers. The pages read the JSON admin API (/v1/admin/*, /v1/usage) like any script would."""
