"use strict";
// Sign-in: POST the key as JSON; the answer sets the session cookie, then the console opens.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("signin");
  const input = document.getElementById("key");
  const error = document.getElementById("error");
  const button = document.getElementById("submit");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    if (!input.value.trim()) {
      error.textContent = "Enter the admin key.";
      error.hidden = false;
      return;
    }
    button.disabled = true;
    button.textContent = "Signing in…";
    try {
      const r = await fetch("/ui/api/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ key: input.value.trim() }),
        credentials: "same-origin",
      });
      if (r.ok) {
        input.value = "";
        window.location.replace("/ui/");
        return;
      }
      let msg = "Sign-in failed (" + r.status + ").";
      try { msg = (await r.json()).error.message; } catch (_) { /* not JSON */ }
      error.textContent = msg;
      error.hidden = false;
    } catch (_) {
      error.textContent = "The gateway cannot be reached.";
      error.hidden = false;
    } finally {
      button.disabled = false;
      button.textContent = "Sign in";
    }
  });
});
