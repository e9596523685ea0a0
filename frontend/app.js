// kefu browser runtime: htmx plus the few behaviours every page shares.
import htmx from "htmx.org";

window.htmx = htmx;

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : null;
}

// Every htmx request carries the session's CSRF token.
document.addEventListener("htmx:configRequest", (event) => {
  const token = csrfToken();
  if (token) event.detail.headers["X-CSRF-Token"] = token;
});

// Let htmx swap in 4xx responses that carry a re-rendered form with an error message.
document.addEventListener("htmx:beforeSwap", (event) => {
  const status = event.detail.xhr.status;
  if (status === 409 || status === 422) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});

window.kefu = { csrfToken };
